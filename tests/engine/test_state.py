"""state.py: the release state kept in annotations on the live Service."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bluegreen import state as st


def svc(annotations: dict[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web", "namespace": "default"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"selector": {"app": "web", "version": "blue"}}}


def entry(
    color: str, image: str | None, action: str = "deploy", time: str = "t", run_url: str | None = None
) -> st.HistoryEntry:
    return st.HistoryEntry(time=time, action=action, color=color, image=image, run_url=run_url)


def full_state() -> st.ReleaseState:
    return st.ReleaseState(
        active_color="green",
        previous_color="blue",
        active_image="r/web:2",
        previous_image="r/web:1",
        previous_replicas=0,
        color_label="example.com/colour",
        release_id="rid-2",
        history=(
            entry("green", "r/web:2", run_url="https://ci/run/2"),
            entry("blue", "r/web:1", action="adopt"),
        ),
        template_hash="aaaa000011112222",
        previous_template_hash="bbbb000011112222",
        hold=st.Hold(
            color="blue",
            image="r/web:3",
            deployment="web-blue",
            uid="u-1",
            generation=4,
            template_hash="cccc000011112222",
            time="t",
            run_url="https://ci/run/3",
            release_id="rid-3",
        ),
    )


def written(state: st.ReleaseState) -> dict[str, str]:
    """What a switch patch leaves on the Service: every non-None value."""
    return {k: v for k, v in st.to_annotations(state).items() if v is not None}


def test_other_color() -> None:
    assert st.other_color("blue") == "green"
    assert st.other_color("green") == "blue"


def test_no_annotations_means_nothing_known() -> None:
    services: list[dict[str, Any]] = [svc(None), svc({}), {"metadata": {}}, {}]
    for service in services:
        state = st.read_state(service)
        assert state == st.ReleaseState()
        assert state.known is False


def test_round_trip_through_annotations() -> None:
    state = full_state()
    assert st.read_state(svc(written(state))) == state
    assert st.read_state(svc(written(state))).known is True


def test_round_trip_of_a_sparse_state() -> None:
    state = st.ReleaseState(active_color="blue", active_image="r/web:1", history=(entry("blue", None),))
    assert st.read_state(svc(written(state))) == state


def test_to_annotations_names_every_key_and_none_for_unset() -> None:
    ann = st.to_annotations(st.ReleaseState(active_color="blue"))
    # after-switch is written beside the state by the switch itself (the release's intent, not its state)
    assert set(ann) | {st.ANN_AFTER_SWITCH} == set(st.STATE_ANNOTATIONS)
    assert ann[st.ANN_ACTIVE_COLOR] == "blue"
    for key in (
        st.ANN_PREVIOUS_COLOR,
        st.ANN_ACTIVE_IMAGE,
        st.ANN_PREVIOUS_IMAGE,
        st.ANN_PREVIOUS_REPLICAS,
        st.ANN_COLOR_LABEL,
        st.ANN_RELEASE_ID,
    ):
        assert ann[key] is None, key
    assert ann[st.ANN_HISTORY] == "[]"


def test_a_hold_survives_the_round_trip_and_a_switch_ends_it() -> None:
    state = full_state()
    assert st.read_state(svc(written(state))).hold == state.hold
    after = st.after_switch(
        state,
        to_color="blue",
        to_image="r/web:3",
        from_color="green",
        from_image="r/web:2",
        from_replicas=2,
        color_label="version",
        action="promote",
        time="t2",
        release_id="rid-4",
        run_url=None,
        template_hash="cccc000011112222",
    )
    assert after.hold is None
    assert (after.template_hash, after.previous_template_hash) == ("cccc000011112222", "aaaa000011112222")


def test_an_unreadable_hold_is_no_hold() -> None:
    assert st.Hold.from_json("{not json") is None
    assert st.Hold.from_json('{"color": "purple"}') is None


def test_to_annotations_values_are_strings() -> None:
    ann = st.to_annotations(full_state())
    assert all(isinstance(v, str) for v in ann.values())
    assert ann[st.ANN_PREVIOUS_REPLICAS] == "0"
    history = ann[st.ANN_HISTORY]
    assert history is not None
    assert json.loads(history) == [
        {
            "time": "t",
            "action": "deploy",
            "color": "green",
            "image": "r/web:2",
            "run_url": "https://ci/run/2",
        },
        {"time": "t", "action": "adopt", "color": "blue", "image": "r/web:1"},
    ]
    assert " " not in history, "compact JSON: annotations are size-limited"


def test_annotation_keys_use_the_prefix() -> None:
    assert all(k.startswith("bluegreen.dev/") for k in st.STATE_ANNOTATIONS)
    assert st.ANN_HISTORY == "bluegreen.dev/history"


@pytest.mark.parametrize("history", ["not json", "{", '{"time": "t"}', "null", "42", '"a string"', ""])
def test_garbage_history_reads_as_empty(history: str) -> None:
    state = st.read_state(svc({st.ANN_ACTIVE_COLOR: "blue", st.ANN_HISTORY: history}))
    assert state.history == ()
    assert state.active_color == "blue"


def test_history_keeps_only_the_objects_of_a_list() -> None:
    raw = json.dumps(
        [{"time": "t1", "action": "deploy", "color": "blue", "image": "a"}, "junk", 3, None, [], {}]
    )
    state = st.read_state(svc({st.ANN_HISTORY: raw}))
    assert state.history == (
        entry("blue", "a", time="t1"),
        st.HistoryEntry(time="", action="", color="", image=None),
    )


@pytest.mark.parametrize("value", ["purple", "Blue", "", " blue"])
def test_unknown_colours_read_as_absent(value: str) -> None:
    state = st.read_state(svc({st.ANN_ACTIVE_COLOR: value, st.ANN_PREVIOUS_COLOR: value}))
    assert state.active_color is None and state.previous_color is None
    assert state.known is False


@pytest.mark.parametrize(
    ("value", "expected"), [("3", 3), ("0", 0), ("many", None), ("", None), ("2.5", None)]
)
def test_previous_replicas_garbage_reads_as_absent(value: str, expected: int | None) -> None:
    assert st.read_state(svc({st.ANN_PREVIOUS_REPLICAS: value})).previous_replicas == expected


def test_empty_strings_read_as_absent() -> None:
    ann = {st.ANN_ACTIVE_IMAGE: "", st.ANN_PREVIOUS_IMAGE: "", st.ANN_COLOR_LABEL: "", st.ANN_RELEASE_ID: ""}
    state = st.read_state(svc(ann))
    assert (state.active_image, state.previous_image, state.color_label, state.release_id) == (None,) * 4


def test_foreign_annotations_are_ignored() -> None:
    state = st.read_state(svc({"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "x"}))
    assert state == st.ReleaseState()


def test_after_switch_records_the_switch_newest_first() -> None:
    before = full_state()
    after = st.after_switch(
        before,
        to_color="blue",
        to_image="r/web:3",
        from_color="green",
        from_image="r/web:2",
        from_replicas=4,
        color_label="version",
        action="deploy",
        time="t3",
        release_id="rid-3",
        run_url="https://ci/run/3",
    )
    assert before == full_state(), "the input state is not modified"
    assert (after.active_color, after.active_image) == ("blue", "r/web:3")
    assert (after.previous_color, after.previous_image, after.previous_replicas) == ("green", "r/web:2", 4)
    assert (after.color_label, after.release_id) == ("version", "rid-3")
    assert after.history[0] == entry("blue", "r/web:3", time="t3", run_url="https://ci/run/3")
    assert after.history[1:] == before.history


def test_after_switch_first_adoption_has_no_previous() -> None:
    after = st.after_switch(
        st.ReleaseState(),
        to_color="blue",
        to_image="r/web:1",
        from_color=None,
        from_image=None,
        from_replicas=None,
        color_label="version",
        action="adopt",
        time="t",
        release_id="r",
        run_url=None,
    )
    assert after.known
    assert (after.previous_color, after.previous_image, after.previous_replicas) == (None, None, None)
    assert st.to_annotations(after)[st.ANN_PREVIOUS_COLOR] is None


def test_history_is_capped_at_ten_dropping_the_oldest() -> None:
    state = st.ReleaseState(
        history=tuple(entry("blue", f"r/web:{i}") for i in range(10, 0, -1))
    )  # 10 newest first
    after = st.after_switch(
        state,
        to_color="green",
        to_image="r/web:11",
        from_color="blue",
        from_image="r/web:10",
        from_replicas=1,
        color_label="version",
        action="deploy",
        time="t",
        release_id="r",
        run_url=None,
    )
    assert st.HISTORY_LIMIT == 10
    assert len(after.history) == 10
    assert [h.image for h in after.history] == [f"r/web:{i}" for i in range(11, 1, -1)]


def test_history_stays_capped_over_many_releases_through_annotations() -> None:
    state = st.ReleaseState()
    for i in range(25):
        color = st.COLORS[i % 2]
        state = st.after_switch(
            state,
            to_color=color,
            to_image=f"r/web:{i}",
            from_color=state.active_color,
            from_image=state.active_image,
            from_replicas=2,
            color_label="version",
            action="deploy",
            time=str(i),
            release_id=str(i),
            run_url=None,
        )
        state = st.read_state(svc(written(state)))
    assert len(state.history) == 10
    assert state.history[0].image == "r/web:24"
    assert state.history[-1].image == "r/web:15"


def test_history_entry_dict_omits_an_empty_run_url() -> None:
    assert entry("blue", "i").to_dict() == {"time": "t", "action": "deploy", "color": "blue", "image": "i"}
    assert entry("blue", "i", run_url="u").to_dict()["run_url"] == "u"


def test_history_entry_from_a_partial_dict() -> None:
    assert st.HistoryEntry.from_dict({"color": "green"}) == st.HistoryEntry(
        time="", action="", color="green", image=None
    )


def test_last_good_image_is_the_newest_on_that_colour() -> None:
    state = st.ReleaseState(
        history=(
            entry("green", "g2"),
            entry("blue", None),
            entry("blue", "b2"),
            entry("green", "g1"),
            entry("blue", "b1"),
        )
    )
    assert st.last_good_image(state, "blue") == "b2"
    assert st.last_good_image(state, "green") == "g2"


def test_last_good_image_unknown() -> None:
    assert st.last_good_image(st.ReleaseState(), "blue") is None
    assert st.last_good_image(st.ReleaseState(history=(entry("green", "g"),)), "blue") is None
