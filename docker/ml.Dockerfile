# The worker and trainer image: the API code plus torch. One Dockerfile, two images, chosen by
# where torch comes from (TORCH_INDEX_URL):
#   https://download.pytorch.org/whl/cpu  the CPU-only build (default; no CUDA libraries)
#   empty                                 pip's own index, PyPI: the CUDA 13 build
#                                         (docker-compose.gpu.yml); it runs on the CPU too, and on
#                                         a GPU needs NVIDIA driver 580+
# The official image unless told otherwise (the compose test builds a stand-in of it).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

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

# torch and torchvision first, from the chosen index, at the versions requirements-ml.txt pins
# (a CPU wheel's version is 2.14.1+cpu, which ==2.14.1 accepts); then the rest from PyPI, where
# pip finds torch already there. requirements-ml.txt includes requirements.txt.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.txt requirements-ml.txt ./
RUN pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
        $(grep -E '^(torch|torchvision)==' requirements-ml.txt) \
    && pip install -r requirements-ml.txt

COPY api/ api/
COPY web/ web/
COPY trainer/ trainer/
COPY manage.py ./

USER app
# No --concurrency: the tagging worker sizes its pool itself (TAGGER_PROCESSES).
CMD ["celery", "-A", "api", "worker", "-Q", "tagging,default"]
