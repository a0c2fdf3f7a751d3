# The worker and trainer image: the API code plus torch (with its CUDA libraries; it runs on the
# CPU too). GPUs are switched on by docker-compose.gpu.yml, not by a different image.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=api.settings \
    GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456

# GLIBC_TUNABLES: glibc keeps the memory torch frees for the next batch instead of faulting it in
# again (trainer/allocator.py says why and holds the same value; a test keeps the two equal).

# Same uid and folders as the api image: both write to the shared_fs volume.
RUN useradd --create-home --uid 1000 --user-group app \
    && mkdir -p /app /srv/shared_fs /srv/static /var/lib/tagloop \
    && chown app:app /srv/shared_fs /srv/static /var/lib/tagloop

WORKDIR /app

# requirements-ml.txt includes requirements.txt; both are needed for the -r to resolve.
COPY requirements.txt requirements-ml.txt ./
RUN pip install -r requirements-ml.txt

COPY api/ api/
COPY web/ web/
COPY trainer/ trainer/
COPY manage.py ./

USER app
# No --concurrency: the tagging worker sizes its pool itself (TAGGER_PROCESSES).
CMD ["celery", "-A", "api", "worker", "-Q", "tagging,default"]
