"""Tagloop's model core: backbones, preprocessing, bundles, inference, training, evaluation.

It imports no Django, so it can be tested and benchmarked alone; thin Celery tasks in ``api/``
call it. The auto-tagging issue fills it in.
"""
