"""Structural schemas and CEL rules of CRDs: upstream's field paths and wording."""

import pytest

from podhost.api.apiextensions import cel, rules, structural

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object", "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "name": {"type": "string", "maxLength": 3, "pattern": "^[a-z]+$"},
                "ip": {"type": "string", "format": "ipv4"},
                "port": {"x-kubernetes-int-or-string": True},
                "tags": {"type": "array", "x-kubernetes-list-type": "set",
                         "items": {"type": "string"}, "maxItems": 3},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {
                              "name": {"type": "string"}, "port": {"type": "integer"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "x-kubernetes-validations": [
                {"rule": "self.size <= 5 || self.mode == 'b'", "message": "big needs mode b"},
                {"rule": "!has(self.name) || self.name.startsWith('x')"},
                {"rule": "self.size >= oldSelf.size", "message": "size may not shrink",
                 "reason": "FieldValueForbidden"},
            ],
        },
    },
}


def spec(**kw):
    return {"apiVersion": "e.io/v1", "kind": "W", "metadata": {"name": "w"},
            "spec": {"size": 1, **kw}}


@pytest.mark.parametrize(("spec_fields", "want"), [
    ({"size": "2"}, 'spec.size: Invalid value: "string": spec.size in body must be of type '
                    'integer: "string"'),
    ({"size": 11}, "spec.size: Invalid value: 11: spec.size in body should be less than or "
                   "equal to 10"),
    ({"size": 0}, "spec.size: Invalid value: 0: spec.size in body should be greater than or "
                  "equal to 1"),
    ({"mode": "c"}, 'spec.mode: Unsupported value: "c": supported values: "a", "b"'),
    ({"name": "abcd"}, "spec.name: Too long: may not be longer than 3"),
    ({"name": "A"}, "spec.name: Invalid value: \"A\": spec.name in body should match "
                    "'^[a-z]+$'"),
    ({"ip": "1.2.3"}, 'spec.ip: Invalid value: "1.2.3": spec.ip in body must be of type ipv4: '
                      '"1.2.3"'),
    ({"port": True}, 'spec.port: Invalid value: "boolean": spec.port in body must be of type '
                     'integer,string: "boolean"'),
    ({"tags": ["a", "a"]}, 'spec.tags[1]: Duplicate value: "a"'),
    ({"tags": ["a", "b", "c", "d"]}, "spec.tags: Too many: 4: must have at most 3 items"),
    ({"ports": [{"name": "a"}, {"name": "a", "port": 1}]},
     'spec.ports[1]: Duplicate value: map[string]interface {}{"name":"a"}'),
    ({"labels": {"a": 1}}, 'spec.labels.a: Invalid value: "integer": spec.labels.a in body must '
                           'be of type string: "integer"'),
    ({"mode": None}, 'spec.mode: Invalid value: "null": spec.mode in body must be of type '
                     'string: "null"'),
])
def test_schema_errors(spec_fields, want):
    obj = spec(**spec_fields)
    assert [str(e) for e in structural.validate(SCHEMA, obj)] == [want]


def test_required_and_valid():
    assert [str(e) for e in structural.validate(SCHEMA, {"spec": {}})] == \
        ["spec.size: Required value"]
    assert structural.validate(SCHEMA, spec(port="http", free={"x": {"y": 1}})) == []


def test_default_and_prune():
    obj = spec(extra=1, free={"x": 1}, ports=[{"name": "a", "zzz": 2}])
    obj["status"] = {"a": 1}
    assert structural.prune(SCHEMA, obj) == ["spec.extra", "spec.ports[0].zzz", "status"]
    structural.default(SCHEMA, obj)
    assert obj["spec"] == {"size": 1, "mode": "a", "free": {"x": 1}, "ports": [{"name": "a"}]}
    assert obj["metadata"] == {"name": "w"}


def test_rules_messages_and_transition():
    node = SCHEMA["properties"]["spec"]
    assert [str(e) for e in rules.validate(SCHEMA, spec(size=6, mode="a"))] == \
        ['spec: Invalid value: "object": big needs mode b']
    assert [str(e) for e in rules.validate(SCHEMA, spec(name="ab"))] == \
        ["spec: Invalid value: \"object\": failed rule: !has(self.name) || "
         "self.name.startsWith('x')"]
    assert rules.validate(node, {"size": 2}) == []  # no oldSelf: the transition rule skips
    assert [str(e) for e in rules.validate(SCHEMA, spec(size=1), spec(size=3))] == \
        ["spec: Forbidden: size may not shrink"]


@pytest.mark.parametrize(("rule", "value"), [
    ("self.l.isSorted() && self.l.sum() == 6 && self.l.max() == 3 && self.l.min() == 1", True),
    ("self.l.indexOf(2) == 1 && self.s.indexOf('b') == 1 && self.l.lastIndexOf(3) == 2", True),
    ("self.s.split('b') == ['a', 'c'] && self.s.upperAscii() == 'ABC'", True),
    ("self.s.find('[bc]+') == 'bc' && 'a1b22'.findAll('[0-9]+') == ['1', '22']", True),
    ("isIP('10.0.0.1') && !isIP('x') && isCIDR('10.0.0.0/8') && isURL('https://a/b')", True),
    ("isQuantity('100Mi') && !isQuantity('1x')", True),
    ("self.l.exists_one(x, x == 2) && self.l.all(x, x > 0) && self.m.k == 'v'", True),
])
def test_cel_libraries(rule, value):
    result = cel.evaluate(rule, {"l": [1, 2, 3], "s": "abc", "m": {"k": "v"}})
    assert (result.ok, result.error) == (value, "")


def test_cel_errors():
    with pytest.raises(cel.CompileError, match="Syntax error"):
        cel.compile_rule("self.a(")
    assert cel.evaluate("self.x == 1", {}).error == "no such key: x"
    errs = rules.compile_errors({"type": "object", "x-kubernetes-validations": [
        {"rule": "self.("}]}, "spec.validation.openAPIV3Schema")
    assert errs[0].field == "spec.validation.openAPIV3Schema.x-kubernetes-validations[0].rule"
    assert "compilation failed: ERROR: <input>:1:6: Syntax error" in str(errs[0])


def test_crd_update_immutable_fields():
    from podhost.api.apiextensions import crd

    old = {"metadata": {"name": "ws.e.com"}, "spec": {
        "group": "e.com", "scope": "Namespaced", "conversion": {"strategy": "None"},
        "names": {"plural": "ws", "singular": "w", "kind": "W", "listKind": "WList"},
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": {"type": "object"}}}]},
        "status": {"conditions": [{"type": "Established", "status": "True"}]}}
    new = {**old, "spec": {**old["spec"], "scope": "Cluster"}}
    assert [str(e) for e in crd.validate_update(new, old)] == \
        ['spec.scope: Invalid value: "Cluster": field is immutable']
    assert crd.validate_update(new, {**old, "status": {}}) == []


@pytest.mark.parametrize(("node", "want"), [
    ({"type": "array", "x-kubernetes-list-type": "bag", "items": {"type": "string"}},
     'p.x-kubernetes-list-type: Unsupported value: "bag": supported values: "atomic", "map", '
     '"set"'),
    ({"type": "object", "x-kubernetes-preserve-unknown-fields": False},
     "p.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"),
    ({"type": "string", "x-kubernetes-int-or-string": True},
     'p.type: Invalid value: "string": must be empty if x-kubernetes-int-or-string is true'),
    ({"type": "object", "properties": {"a": {"type": "string"}},
      "additionalProperties": {"type": "string"}},
     "p.additionalProperties: Forbidden: additionalProperties and properties are mutual "
     "exclusive"),
])
def test_schema_extension_rules(node, want):
    from podhost.api.apiextensions import crd

    assert [str(e) for e in crd._extensions(node, "p")] == [want]


def test_optional_old_self():
    node = {"type": "object", "properties": {"n": {"type": "integer"}},
            "x-kubernetes-validations": [
                {"rule": "oldSelf.hasValue() || self.n == 0", "optionalOldSelf": True,
                 "message": "new objects start at 0"},
                {"rule": "!oldSelf.hasValue() || self.n >= oldSelf.value().n",
                 "optionalOldSelf": True, "message": "n may not go down"}]}
    assert [e.detail for e in rules.validate(node, {"n": 1})] == ["new objects start at 0"]
    assert rules.validate(node, {"n": 0}) == []
    assert [e.detail for e in rules.validate(node, {"n": 1}, {"n": 2})] == ["n may not go down"]
    assert rules.compile_errors(node, "s") == []
    bad = {"type": "object", "x-kubernetes-validations": [
        {"rule": "self.n == 0", "optionalOldSelf": True}]}
    assert [str(e) for e in rules.compile_errors(bad, "s")] == [
        "s.x-kubernetes-validations[0].optionalOldSelf: Invalid value: true: may only be set "
        "to true for transition rules (rules that refer to oldSelf)"]
