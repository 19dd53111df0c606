import pytest

from bench.registry import Registry, RegistryError, Spec, backbones, benchmarks, selectors
from bench.selectors import plan


def test_spec_parses_name_and_sorted_parameters():
    spec = Spec.parse("clip:text=question:model=m")
    assert spec.name == "clip" and spec.params == (("model", "m"), ("text", "question"))
    assert str(spec) == "clip:model=m:text=question"


@pytest.mark.parametrize("text, params", [
    ("openai:base_url=http://127.0.0.1:8000/v1:model=m", (("base_url", "http://127.0.0.1:8000/v1"), ("model", "m"))),
    ("openai:model=org/m:base_url=https://host/v1", (("base_url", "https://host/v1"), ("model", "org/m"))),
    ("x:a=1:b=c:d", (("a", "1"), ("b", "c:d"))),  # ':d' has no '=' after it, so it stays in b's value
])
def test_a_colon_starts_a_parameter_only_where_key_equals_follows(text, params):
    assert Spec.parse(text).params == params


def test_settings_a_class_lists_never_enter_the_canonical_spec():
    registry = Registry("thing", "bench.selectors")

    @registry.register("served")
    class Served:
        """A class with one parameter that changes results and one that does not."""

        spec = "served"
        settings = ("timeout",)

        def __init__(self, model: str = "m", timeout: float = 10.0) -> None:
            self.model, self.timeout = model, timeout

    built = registry.build("served:model=n:timeout=2.5")
    assert built.timeout == 2.5 and built.spec == "served:model=n"


@pytest.mark.parametrize("text, message", [
    ("clip:model", "not key=value"),
    ("clip:model:a=1", "parameter 'model' is not key=value"),
    (":a=1", "no name"),
    ("clip:a=1:a=2", "given twice"),
])
def test_bad_specs_are_refused_with_the_reason(text, message):
    with pytest.raises(RegistryError, match=message):
        Spec.parse(text)


def test_unknown_name_suggests_close_matches_and_lists_all():
    with pytest.raises(RegistryError, match=r"unknown selector 'unifrom'. Did you mean uniform\?.*Known: .*oracle"):
        selectors.get("unifrom")


def test_duplicate_registration_raises():
    registry = Registry("thing", "bench.selectors")

    @registry.register("a")
    class A:
        spec = "a"

    with pytest.raises(RegistryError, match="registered twice"):
        @registry.register("a")
        class B:
            spec = "a"


def test_canonical_spec_drops_defaults_and_converts_types():
    assert backbones.canonical("probe") == "probe"
    assert backbones.canonical("probe:delay=0") == "probe"  # 0 is the default
    assert backbones.canonical("probe:delay=0.5") == "probe:delay=0.5"
    assert backbones.build("probe:delay=0.5").delay == 0.5
    assert benchmarks.canonical("needle:split=train") == "needle:split=train"


def test_parameters_are_checked_against_the_constructor():
    with pytest.raises(RegistryError, match="no parameter 'speed'; it takes: delay"):
        backbones.build("probe:speed=3")
    with pytest.raises(RegistryError, match="not a valid float"):
        backbones.build("probe:delay=slow")


def test_defaults_fill_only_parameters_a_class_takes():
    # `weights` is a global default that probe does not take: ignored, not an error
    assert backbones.canonical("probe", weights="random") == "probe"


def test_pick_is_generic_and_kept_out_of_the_scoring_spec():
    p = plan("oracle:pick=topk")
    assert (p.spec, p.scorer, p.pick) == ("oracle:pick=topk", "oracle", "topk")
    assert plan("oracle:pick=nms").spec == "oracle"  # nms is oracle's own default
    assert plan("uniform").pick == "uniform"
    with pytest.raises(RegistryError, match="pick must be one of"):
        plan("oracle:pick=best")


@pytest.mark.parametrize("registry", [selectors, backbones, benchmarks])
def test_every_registered_name_has_a_one_line_description(registry):
    described = registry.describe()
    assert described, f"no {registry.kind} registered"
    for name, line in described:
        assert line and not line.endswith(":"), f"{registry.kind} {name} lacks a description"


def test_a_class_missing_a_protocol_member_fails_at_registration_naming_it():
    registry = Registry("selector", "bench.selectors", ("pick", "load", "score", "release"))
    with pytest.raises(RegistryError, match=r"selector 'half' \(.*Half\) lacks score, release"):
        @registry.register("half")
        class Half:
            spec = "half"
            pick = "nms"

            def load(self, device: str) -> None: ...


def test_a_class_must_declare_its_spec_as_its_registered_name():
    registry = Registry("backbone", "bench.backbones")
    with pytest.raises(RegistryError, match="must declare spec = 'mine'"):
        @registry.register("mine")
        class Inherited(Registry):  # a subclass that forgot its own spec would answer to its parent's
            spec = "parent"
