// SPDX-License-Identifier: Apache-2.0

package executor

import "strings"

// MatchNamespace reports whether a hook's namespace pattern matches the
// in-flight namespace ns, with the seed's rules exactly:
//
//   - a pattern that trims to "" or "*" matches everything, including a
//     fire that carries no namespace (ns == "");
//   - "prefix/*" matches "prefix" itself and anything under "prefix/", but
//     not "prefixwork";
//   - any other pattern matches only the same name; there is no other glob
//     syntax;
//   - a scoped pattern never matches a fire without a namespace.
func MatchNamespace(pattern, ns string) bool {
	p := strings.TrimSpace(pattern)
	if p == "" || p == "*" {
		return true
	}
	if ns == "" {
		return false
	}
	if prefix, ok := strings.CutSuffix(p, "/*"); ok {
		return ns == prefix || strings.HasPrefix(ns, prefix+"/")
	}
	return ns == p
}

// MatchAnyNamespace reports whether pattern matches any of the fire's
// namespaces. An empty list means the fire carries no namespace, so only
// the match-all patterns fire (the seed's fire-if-any rule).
func MatchAnyNamespace(pattern string, nss []string) bool {
	if len(nss) == 0 {
		return MatchNamespace(pattern, "")
	}
	for _, ns := range nss {
		if MatchNamespace(pattern, ns) {
			return true
		}
	}
	return false
}
