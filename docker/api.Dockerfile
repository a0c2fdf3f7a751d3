# The API image: Django, DRF, gunicorn, Celery client. No torch and no CUDA, so it stays small;
# the model runs in the ml image (docker/ml.Dockerfile).
# The official image unless told otherwise (the compose test builds a stand-in of it).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=api.settings

# uid 1000 in both images: they write the same files on the shared_fs volume. The folders are
# created here, owned by that user, because an empty named volume takes its owner from the image.
RUN useradd --create-home --uid 1000 --user-group app \
    && mkdir -p /app /srv/shared_fs /srv/static /var/lib/tagloop \
    && chown app:app /srv/shared_fs /srv/static /var/lib/tagloop

WORKDIR /app

# Requirements first, so code changes do not reinstall packages.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY api/ api/
COPY web/ web/
COPY trainer/ trainer/
COPY manage.py ./

USER app
EXPOSE 8000
CMD ["gunicorn", "api.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
