"""The rule types: every rule module's rule class, the config union the camera config validates a
rule with, and :func:`build_rules`.

Adding a rule type: one module in edge/rules/ with its config (a ``RuleConfigBase`` subclass with
``type: Literal[RuleType.…]`` and its own fields and defaults) and its rule class (``Rule[Config]``
with ``config_model`` and :meth:`~edge.rules.base.Rule.evaluate`); the module is found here by
itself. Its wire name goes in :class:`protocol.RuleType` and its Chinese label in
``center/domain/vocabulary.py`` (a test checks that every type has both).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, Union

from pydantic import Field, ValidationError, WrapValidator
from pydantic_core import InitErrorDetails, PydanticCustomError

import edge.rules as rules_pkg
from common.configfile import ConfigError
from edge.rules.base import Rule, RuleConfigBase
from protocol import RuleType

if TYPE_CHECKING:
    from edge.config.camera import CameraConfig
    from edge.config.models import ModelsConfig

# modules of edge/rules/ that hold no rule type
_SUPPORT_MODULES = {"base", "registry", "lifecycle", "schedule", "ppe", "warning"}


def _discover() -> tuple[type[Rule[Any]], ...]:
    """Every rule class defined in a module of this package, in the order of ``RuleType``.

    A module without exactly one rule class, two modules for one type, or a type without a
    module is a programming error: it fails the import with a message saying which.
    """
    found: dict[RuleType, type[Rule[Any]]] = {}
    for info in pkgutil.iter_modules(rules_pkg.__path__):
        if info.name in _SUPPORT_MODULES:
            continue
        module = importlib.import_module(f"{rules_pkg.__name__}.{info.name}")
        classes = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, Rule)
            and obj.__module__ == module.__name__
            and "config_model" in vars(obj)
        ]
        if len(classes) != 1:
            raise ImportError(f"edge/rules/{info.name}.py: expected one rule class, found {len(classes)}")
        kind = classes[0].config_model.rule_type()
        if kind in found:
            raise ImportError(
                f"rule type {kind.value!r} is defined twice ({found[kind].__module__}, {module.__name__})"
            )
        found[kind] = classes[0]
    missing = [kind.value for kind in RuleType if kind not in found]
    if missing:
        raise ImportError(f"no module in edge/rules/ defines the rule type(s) {missing}")
    return tuple(found[kind] for kind in RuleType)


RULES: tuple[type[Rule[Any]], ...] = _discover()
RULE_TYPES: dict[RuleType, type[Rule[Any]]] = {rule.config_model.rule_type(): rule for rule in RULES}
_CONFIGS = {kind.value: rule.config_model for kind, rule in RULE_TYPES.items()}
_NAMES = ", ".join(_CONFIGS)
_MISSING_WORDS = {"zone": "a zone"}  # "… rules need a zone"


def _readable(err: Any) -> InitErrorDetails:
    """One error of a rule's validation, put as the config file's reader needs it: the type tag
    pydantic adds to the location left out (``rules[2].duration_s``, not ``rules[2].loitering…``),
    a missing field or type, an unknown type and a key of another type said in words."""
    loc, kind, msg = tuple(err["loc"]), err["type"], err["msg"]
    tag = loc[0] if loc and loc[0] in _CONFIGS else None
    if tag is not None:
        loc = loc[1:]
    if kind == "union_tag_invalid":
        loc, msg = ("type",), f"unknown rule type {err['ctx']['tag']!r} (available: {_NAMES})"
    elif kind == "union_tag_not_found":
        loc, msg = ("type",), f"Field required (the rule type, one of: {_NAMES})"
    elif tag is not None and len(loc) == 1 and kind == "missing":
        msg = f"{tag} rules need {_MISSING_WORDS.get(str(loc[0]), loc[0])}"
    elif tag is not None and len(loc) == 1 and kind == "extra_forbidden":
        users = [name for name, model in _CONFIGS.items() if loc[0] in model.model_fields]
        if users:
            kind, msg = "unused_key", f"unknown key (not used by {tag} rules; only by: {', '.join(users)})"
    return InitErrorDetails(type=PydanticCustomError(kind, msg), loc=loc, input=err["input"])


def _readable_errors(value: Any, handler: Any) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        errors = [_readable(e) for e in exc.errors()]
        raise ValidationError.from_exception_data(exc.title, errors) from None


if TYPE_CHECKING:
    RuleConfig: TypeAlias = RuleConfigBase
else:
    # the config of one rule: the type's own model, chosen by its ``type``
    RuleConfig = Annotated[
        Annotated[Union[tuple(_CONFIGS.values())], Field(discriminator="type")],  # noqa: UP007
        WrapValidator(_readable_errors),
    ]


def build_rules(
    camera: CameraConfig,
    timezone: str,
    available_labels: set[str],
    *,
    tracking: bool = True,
    models: ModelsConfig | None = None,
) -> list[Rule[Any]]:
    """Instantiate a camera's rules; refuse classes no loaded model gives, and types that need
    track ids when tracking is off. With ``models``, each rule loads what it runs itself
    (:meth:`Rule.attach`, e.g. the PPE classifier); a model it cannot use is refused here."""
    zones = {z.id: z for z in camera.zones}
    rules: list[Rule[Any]] = []
    for i, rc in enumerate(camera.rules):
        where = f"cameras[{camera.id}].rules[{i}]"
        cls = RULE_TYPES[rc.type]
        rule = cls(rc, zones.get(rc.zone) if rc.zone else None, timezone, available_labels)
        refused = rule.refusal()
        if refused is not None:
            field, reason = refused
            raise ConfigError(f"{where}.{field}: {reason}")
        if cls.needs_tracks and not tracking:
            raise ConfigError(f"{where}.type: {rc.type.value} rules need track ids: turn tracker.enabled on")
        if models is not None:
            try:
                rule.attach(models)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        rules.append(rule)
    return rules
