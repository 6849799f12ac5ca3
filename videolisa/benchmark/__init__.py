"""``python -m videolisa bench``: time every stage of a chat turn and estimate memory.

* :mod:`~videolisa.benchmark.synthetic`: a synthetic video of moving shapes;
* :mod:`~videolisa.benchmark.stages`: per-stage timings on a loaded pipeline;
* :mod:`~videolisa.benchmark.memory`: peak RSS and GPU memory, sizes in bytes;
* :mod:`~videolisa.benchmark.estimate`: memory each precision needs, from a meta-device model.
"""
