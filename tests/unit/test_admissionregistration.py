"""Webhook configurations and admission policies: validation, matching, denial wording."""

from podhost.api import admissionregistration as ar

ATTRS = ar.Attributes("CREATE", "apps", "v1", "deployments", "", "Deployment", "default", "d",
                      {"metadata": {"name": "d", "labels": {"team": "a"}}}, None,
                      {"username": "alice", "uid": "", "groups": []}, False)


def hook(**kw):
    return {"name": "check.example.com", "admissionReviewVersions": ["v1"],
            "sideEffects": "None", "clientConfig": {"url": "https://127.0.0.1:9443/"}, **kw}


def test_webhook_validation_messages():
    config = {"webhooks": [hook(), hook(), {"name": "bad", "clientConfig": {}},
                           hook(name="t.example.com", timeoutSeconds=31)]}
    assert [str(e) for e in ar.validate_webhooks(config)] == [
        'webhooks[1].name: Duplicate value: "check.example.com"',
        'webhooks[2].name: Invalid value: "bad": should be a domain with at least three '
        "segments separated by dots",
        "webhooks[2].admissionReviewVersions: Required value: must specify one of v1, v1beta1",
        "webhooks[2].sideEffects: Required value: must specify one of None, NoneOnDryRun",
        "webhooks[2].clientConfig: Required value: exactly one of url or service is required",
        "webhooks[3].timeoutSeconds: Invalid value: 31: the timeout value must be between 1 "
        "and 30 seconds"]


def test_defaults():
    config = {"webhooks": [hook(rules=[{"operations": ["*"]}],
                                clientConfig={"service": {"name": "s", "namespace": "n"}})]}
    ar.default_webhooks(config, mutating=True)
    h = config["webhooks"][0]
    assert (h["failurePolicy"], h["matchPolicy"], h["timeoutSeconds"],
            h["reinvocationPolicy"], h["rules"][0]["scope"],
            h["clientConfig"]["service"]["port"]) == ("Fail", "Equivalent", 10, "Never", "*",
                                                      443)


def test_rule_matching():
    rule = {"operations": ["CREATE"], "apiGroups": ["apps"], "apiVersions": ["v1"],
            "resources": ["deployments"], "scope": "*"}
    assert ar.rule_matches(rule, ATTRS, ("v1",))
    assert not ar.rule_matches({**rule, "operations": ["UPDATE"]}, ATTRS, ("v1",))
    assert not ar.rule_matches({**rule, "scope": "Cluster"}, ATTRS, ("v1",))
    assert ar.rule_matches({**rule, "resources": ["*"]}, ATTRS, ("v1",))
    assert not ar.rule_matches({**rule, "resources": ["deployments/status"]}, ATTRS, ("v1",))


def test_selectors():
    assert ar.selectors_match({"objectSelector": {"matchLabels": {"team": "a"}}}, ATTRS, {})
    assert not ar.selectors_match({"objectSelector": {"matchLabels": {"team": "b"}}}, ATTRS, {})
    assert not ar.selectors_match({"namespaceSelector": {"matchLabels": {"env": "prod"}}},
                                  ATTRS, {"env": "dev"})


def test_match_conditions():
    data = ar.cel_data(ATTRS)
    assert ar.conditions_match([{"name": "a", "expression": "request.name == 'd'"}], data) == \
        (True, "")
    assert ar.conditions_match([{"name": "a", "expression": "object.spec.x == 1"}], data) == \
        (False, "a: no such key: spec")


def test_denied_wording():
    e = ar.denied("v.example.com", {"code": 403, "message": "nope"})
    assert (e.code, e.to_status()["message"]) == \
        (403, 'admission webhook "v.example.com" denied the request: nope')
    assert ar.denied("v.example.com", None).to_status()["message"] == \
        'admission webhook "v.example.com" denied the request without explanation'
    p = ar.policy_denied("p", "b", "too many", "deployments", "d")
    assert p.code == 422
    assert p.to_status()["message"] == ('deployments "d" is invalid: : ValidatingAdmissionPolicy '
                                        "'p' with binding 'b' denied request: too many")


def test_policy_and_binding_validation():
    assert [str(e) for e in ar.validate_policy({"spec": {"validations": [
        {"expression": "object."}], "matchConstraints": {"resourceRules": [{}]}}})][0] \
        .startswith("spec.validations[0].expression: Invalid value: \"object.\": compilation "
                    "failed: ERROR: <input>:1:8: Syntax error")
    errs = ar.validate_binding({"spec": {"policyName": "p",
                                         "validationActions": ["Deny", "Warn"]}})
    assert [(e.field, e.detail) for e in errs] == [
        ("spec.validationActions", 'may not contain both "Deny" and "Warn"')]
