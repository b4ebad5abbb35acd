"""The mp4mp3 operator (Kopf): each ConversionJob runs as a batch/v1 Job; their state becomes its status.

Named ``conversion_operator`` because ``operator`` is a standard-library module.
"""
