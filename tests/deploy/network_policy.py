"""NetworkPolicies evaluated without a cluster, as the API defines them: may pod A open a TCP
connection to pod B on a port? Both ends must agree: B's ingress policies (if any select B)
and A's egress policies (if any select A). Enough of the API for deploy/kubernetes: label
selectors (matchLabels, matchExpressions), namespace and pod selectors alone or together,
ipBlock with except, numbered ports with endPort."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: str = "10.42.0.1"


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A LabelSelector; the empty one ({}) matches everything."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In":
            matched = key in labels and labels[key] in values
        elif operator == "NotIn":
            matched = key not in labels or labels[key] not in values
        elif operator == "Exists":
            matched = key in labels
        elif operator == "DoesNotExist":
            matched = key not in labels
        else:
            raise ValueError(f"unknown selector operator {operator!r}")
        if not matched:
            return False
    return True


def _policy_types(policy: Mapping[str, Any]) -> list[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        return list(spec["policyTypes"])
    # The API's default: Ingress always, Egress when the policy has egress rules.
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _port_matches(ports: list[Mapping[str, Any]] | None, port: int) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != "TCP":
            continue
        if "port" not in entry:
            return True
        first = entry["port"]
        if not isinstance(first, int):
            raise ValueError(f"named port {first!r}: the evaluator knows numbers only")
        if first <= port <= entry.get("endPort", first):
            return True
    return False


def _ip_block_matches(block: Mapping[str, Any], ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    network = ipaddress.ip_network(block["cidr"])
    if address.version != network.version or address not in network:
        return False
    return not any(
        address.version == ipaddress.ip_network(excluded).version
        and address in ipaddress.ip_network(excluded)
        for excluded in block.get("except") or []
    )


class Cluster:
    """Pods, their namespaces' labels and the NetworkPolicies that apply to them."""

    def __init__(
        self,
        policies: Iterable[Mapping[str, Any]],
        namespace_labels: Mapping[str, Mapping[str, str]],
    ) -> None:
        self.policies = list(policies)
        self.namespace_labels = {
            name: {**labels, NAMESPACE_NAME_LABEL: name}
            for name, labels in namespace_labels.items()
        }

    def _labels_of_namespace(self, name: str) -> Mapping[str, str]:
        return self.namespace_labels.get(name, {NAMESPACE_NAME_LABEL: name})

    def _peer_matches(
        self, peers: list[Mapping[str, Any]] | None, policy_namespace: str, pod: Pod
    ) -> bool:
        if not peers:  # no `from`/`to`: every peer
            return True
        for peer in peers:
            if "ipBlock" in peer:
                if _ip_block_matches(peer["ipBlock"], pod.ip):
                    return True
                continue
            namespace_selector = peer.get("namespaceSelector")
            pod_selector = peer.get("podSelector")
            if namespace_selector is None:
                in_namespace = pod.namespace == policy_namespace
            else:
                in_namespace = selector_matches(
                    namespace_selector, self._labels_of_namespace(pod.namespace)
                )
            if in_namespace and (
                pod_selector is None or selector_matches(pod_selector, pod.labels)
            ):
                return True
        return False

    def _side_allows(self, subject: Pod, peer: Pod, port: int, direction: str) -> bool:
        rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        selecting = [
            policy
            for policy in self.policies
            if policy["metadata"]["namespace"] == subject.namespace
            and direction in _policy_types(policy)
            and selector_matches(policy["spec"]["podSelector"], subject.labels)
        ]
        if not selecting:  # a pod no policy selects is not isolated in this direction
            return True
        return any(
            _port_matches(rule.get("ports"), port)
            and self._peer_matches(rule.get(peers_key), policy["metadata"]["namespace"], peer)
            for policy in selecting
            for rule in policy["spec"].get(rules_key) or []
        )

    def connects(self, source: Pod, target: Pod, port: int) -> bool:
        return self._side_allows(target, source, port, "Ingress") and self._side_allows(
            source, target, port, "Egress"
        )
