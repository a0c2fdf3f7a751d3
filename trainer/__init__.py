"""Tagloop's model core: backbones, preprocessing, bundles and their manifest, inference, training,
evaluation. It imports no Django, so it can be tested and benchmarked alone; thin Celery tasks in
``api/`` call it."""
