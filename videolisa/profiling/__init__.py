"""``python -m videolisa bench``: time every stage of a chat turn and estimate memory.

* :mod:`~videolisa.profiling.synthetic`: a synthetic video of moving shapes;
* :mod:`~videolisa.profiling.stages`: per-stage timings on a loaded pipeline;
* :mod:`~videolisa.profiling.turns`: a first question and a follow-up, stage by stage, on a
  video in memory (``--random-init``);
* :mod:`~videolisa.profiling.random_model`, :mod:`~videolisa.profiling.random_tracker`: the
  published architecture and trackers with random weights, at full size or shrunk;
* :mod:`~videolisa.profiling.memory`: peak RSS and GPU memory;
* :mod:`~videolisa.profiling.estimate`: memory each precision needs, from a meta-device model.
"""
