import tempfile

import pytest
import services_client as sc

from .synth import frame, make_new_topic, make_task


def offline_run(tmp_path, **kw) -> sc.Run:
    """A run that logs and prepares its bundle locally (nothing is sent: the url is never called)."""
    kw.setdefault("labels", list(make_task(1).labels))
    return sc.Run(url="http://127.0.0.1:9", api_key="unused", project="p", run_name="r", dir=tmp_path / "run", **kw)


@pytest.fixture
def tasks():
    return {
        "training": make_task(250, 0.1, seed=0),
        "validation": make_task(50, 0.0, seed=5, id_start=50_000),
        "new_topic": make_new_topic(200),
        "same": make_task(50, 0.0, seed=9, id_start=200_000),
    }


def log_all(run, tasks, *, epochs: int = 5):
    from .synth import train_and_log

    run.log_dataset(frame(tasks["training"]), split="training")
    run.log_dataset(frame(tasks["validation"]), split="validation")
    run.log_dataset(frame(tasks["new_topic"], with_labels=False), split="inference", inference_name="new_topic")
    run.log_dataset(frame(tasks["same"], with_labels=False), split="inference", inference_name="same")
    return train_and_log(
        run,
        tasks["training"],
        epochs=epochs,
        others=[
            ("validation", tasks["validation"], None),
            ("inference", tasks["new_topic"], "new_topic"),
            ("inference", tasks["same"], "same"),
        ],
    )


__all__ = ["offline_run", "log_all", "tempfile"]
