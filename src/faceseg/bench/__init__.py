"""Benchmarks that print figures instead of asserting times (``python -m faceseg.bench --help``).

- :mod:`~faceseg.bench.speed`: each stage on real FASSEG images, speed per megapixel and peak memory;
  the command line.
- :mod:`~faceseg.bench.stages`: the stages themselves, each run in a fresh process.
- :mod:`~faceseg.bench.photo`: ``faceseg segment`` against scikit-image's features.
- :mod:`~faceseg.bench.pose_trees`: the head-pose forests' tree count, by cross-validation by person.
- :mod:`~faceseg.bench.workflow`: the workflow at LaPa's scale, and job overhead of a finished run.
"""
