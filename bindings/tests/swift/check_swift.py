#!/usr/bin/env python3
"""Swift checks that run without a Swift toolchain (scripts/suites/swift.sh).

What this is NOT: a Swift compile or test run. The XCTests in ios/Tests are
not run here, types are not checked, and CoreNFC/Foundation/XCTest names are
taken on trust from an allow-list. Swift is unverified until built on a Mac.

For each library build (the shipping one, and the sandbox one the XCTests use):
  * syntax: the generated and the hand-written Swift parse without errors
    (tree-sitter-swift; `@_documentation(visibility: private)` is stripped
    first, a construct the grammar does not know);
  * API use: every call, enum case and static member the hand-written Swift
    names exists in the generated (or hand-written) Swift with matching
    argument labels - what the Swift compiler would check first;
  * ABI: the UniFFI contract version, every checksum the generated Swift
    expects (called through ctypes) and every symbol it calls match the
    built library;
  * C header: the generated header compiles with gcc and every function it
    declares links against the library.

  * release hygiene: the shipped library has no sandbox symbol (virtual
    card, `sandbox_panic`), checked against the sandbox build as a positive
    control so the check itself can fail;
  * allow-list hygiene: every allow-listed external name is still used.

Prints one line per check and `N passed, N failed` last; exits 1 on failure.
"""

import argparse
import ctypes
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import tree_sitter_swift
from tree_sitter import Language, Parser

PARSER = Parser(Language(tree_sitter_swift.language()))
DOC_ATTRIBUTE = "@_documentation(visibility: private)"
# Valid Swift the grammar does not parse: a closure whose body is the empty
# tuple, as UniFFI generates for foreign methods returning nothing.
UNIT_CLOSURE = "{ () }"

# Names from Swift, Foundation, XCTest, CoreNFC, CryptoKit, Security, LocalAuthentication and PackageDescription that the
# hand-written Swift uses. A name outside this list and outside the Swift
# sources is reported as unknown (a typo the compiler would reject).
EXTERNAL_NAMES = {
    # Swift / Foundation
    "String", "Int", "Int64", "UInt8", "Data", "Date", "Array", "Bool",
    "reduce", "append", "removeAll", "forEach", "lock", "unlock", "contains", "rounded",
    "withCheckedContinuation", "resume", "Task", "TimeInterval", "DateComponents",
    "Calendar", "NSLock", "value", "count", "isEmpty", "utf8", "down", "gregorian",
    "localizedDescription", "code", "timeIntervalSince1970", "year", "month", "day",
    "defer",  # `x(); defer { … }` on one line parses as a call with a trailing closure
    "hasSuffix", "dropLast", "UInt16",
    "NSTemporaryDirectory",  # PortalTests: a store file for the test
    "init",  # `self.init(…)` in a convenience initialiser
    # Foundation networking (URLSessionAuthorityLink)
    "URL", "URLSession", "URLRequest", "addValue", "ephemeral",
    "cannotFindHost", "cannotConnectToHost", "dnsLookupFailed", "notConnectedToInternet",
    "secureConnectionFailed", "serverCertificateUntrusted", "serverCertificateHasBadDate",
    "serverCertificateNotYetValid", "serverCertificateHasUnknownRoot", "clientCertificateRejected",
    "appTransportSecurityRequiresSecureConnection", "unsupportedURL", "badURL",
    "internationalRoamingOff", "dataNotAllowed", "timedOut", "cancelled",
    "URLError", "networkConnectionLost",
    # CryptoKit, Security and LocalAuthentication (SecureEnclaveSecureArea)
    "SecItemCopyMatching", "SecItemDelete", "SecAccessControlCreateWithFlags",
    "SecKeyCreateRandomKey", "SecKeyCreateSignature", "SecKeyCreateWithData",
    "SecKeyCopyKeyExchangeResult", "SecKeyCopyPublicKey", "SecKeyCopyExternalRepresentation",
    "privateKeyUsage", "userPresence", "ecdsaSignatureMessageX962SHA256", "ecdhKeyExchangeStandard",
    "ECDSASignature", "PublicKey", "takeRetainedValue", "split",
    "LAContext", "canEvaluatePolicy", "deviceOwnerAuthentication", "OSStatus",
    # XCTest
    "XCTAssertEqual", "XCTAssertTrue", "XCTAssertFalse", "XCTAssertNil", "XCTFail",
    "XCTAssertThrowsError", "XCTAssertNotNil",
    "withTaskCancellationHandler", "withCheckedThrowingContinuation", "removeFirst",
    "success", "failure",
    # CoreNFC
    "NFCISO7816APDU", "sendCommand", "NFCTagReaderSession", "begin", "invalidate", "connect",
    "iso14443", "iso7816",
    "readerTransceiveErrorTagConnectionLost", "readerTransceiveErrorTagNotConnected",
    "readerTransceiveErrorSessionInvalidated", "readerSessionInvalidationErrorSessionTimeout",
    "readerSessionInvalidationErrorUserCanceled",
    "readerSessionInvalidationErrorSessionTerminatedUnexpectedly",
}


EXTERNAL_USED = set()

SANDBOX_SYMBOL = re.compile(r"sandbox|virtualcard|virtual_card|virtuallink|virtual_link", re.I)


def sandbox_symbols(library):
    """Exported symbols of `library` that belong to the sandbox."""
    out = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True, check=True)
    return sorted({line.split()[-1] for line in out.stdout.splitlines() if SANDBOX_SYMBOL.search(line)})


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, problems):
        """Records one check; `problems` is a list of strings (empty: passed)."""
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for p in problems[:20]:
                print(f"       {p}")
            if len(problems) > 20:
                print(f"       … and {len(problems) - 20} more")
        else:
            self.passed += 1
            print(f"ok   {name}")


def text(node, src):
    return src[node.start_byte:node.end_byte].decode("utf-8")


def parse(path):
    src = (Path(path).read_text(encoding="utf-8")
           .replace(DOC_ATTRIBUTE, "").replace(UNIT_CLOSURE, "{ }").encode("utf-8"))
    return PARSER.parse(src), src


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def syntax_errors(tree, src):
    errors = []
    for n in walk(tree.root_node):
        if n.type == "ERROR" or n.is_missing:
            row, col = n.start_point
            errors.append(f"line {row + 1}:{col + 1}: {'missing ' + n.type if n.is_missing else 'syntax error'}"
                          f" near {text(n, src)[:40]!r}")
    return errors


# --- declarations --------------------------------------------------------------

class Declarations:
    """Functions, initialisers, enum cases, members and types declared in some Swift files."""

    def __init__(self):
        self.signatures = {}   # name -> list of [(label, has_default)]
        self.members = {}      # type -> set of member names
        self.types = set()
        self.names = set()     # every declared name (functions, properties, cases, parameters)

    def add_signature(self, name, params):
        self.signatures.setdefault(name, []).append(params)
        self.names.add(name)

    def add_file(self, tree, src):
        for n in walk(tree.root_node):
            if n.type in ("class_declaration", "protocol_declaration", "typealias_declaration"):
                names = [c for c in n.children if c.type in ("type_identifier", "user_type")]
                if names:
                    type_name = text(names[0], src)
                    self.types.add(type_name)
                    self.members.setdefault(type_name, set())
            elif n.type in ("function_declaration", "protocol_function_declaration"):
                name = next((c for c in n.children if c.type == "simple_identifier"), None)
                if name is not None:
                    self.add_signature(text(name, src), self.params(n, src))
                    self.add_member(n, text(name, src), src)
            elif n.type == "init_declaration":
                owner = self.owner(n, src)
                if owner:
                    self.add_signature(owner, self.params(n, src))
            elif n.type == "enum_entry":
                self.add_enum_entry(n, src)
            elif n.type in ("property_declaration", "protocol_property_declaration"):
                for pattern in (c for c in n.children if c.type == "pattern"):
                    for ident in (c for c in walk(pattern) if c.type == "simple_identifier"):
                        self.names.add(text(ident, src))
                        self.add_member(n, text(ident, src), src)
            elif n.type in ("parameter", "lambda_parameter"):
                for ident in (c for c in n.children if c.type == "simple_identifier"):
                    self.names.add(text(ident, src))
            elif n.type in ("value_binding_pattern",):
                pass
        # Bindings in patterns (`case let .x(tries)`, `catch let E.x(a)`, tuples).
        for n in walk(tree.root_node):
            if n.type == "pattern":
                kids = n.children
                for i, ident in enumerate(kids):
                    if ident.type == "simple_identifier" and (i == 0 or kids[i - 1].type != "."):
                        self.names.add(text(ident, src))

    def owner(self, node, src):
        """The type (or extended type) a declaration is inside."""
        p = node.parent
        while p is not None:
            if p.type in ("class_declaration", "protocol_declaration"):
                names = [c for c in p.children if c.type in ("type_identifier", "user_type")]
                return text(names[0], src) if names else None
            p = p.parent
        return None

    def add_member(self, node, name, src):
        owner = self.owner(node, src)
        if owner:
            self.members.setdefault(owner, set()).add(name)

    @staticmethod
    def params(node, src):
        params = []
        children = node.children
        for i, c in enumerate(children):
            if c.type != "parameter":
                continue
            idents = [x for x in c.children if x.type == "simple_identifier"]
            label = text(idents[0], src) if idents else "_"
            has_default = i + 1 < len(children) and children[i + 1].type == "="
            params.append((label, has_default))
        return params

    def add_enum_entry(self, node, src):
        owner = self.owner(node, src)
        children = node.children
        for i, c in enumerate(children):
            if c.type != "simple_identifier":
                continue
            name = text(c, src)
            self.names.add(name)
            if owner:
                self.members.setdefault(owner, set()).add(name)
            nxt = children[i + 1] if i + 1 < len(children) else None
            if nxt is not None and nxt.type == "enum_type_parameters":
                labels = []
                parts = [x for x in nxt.children if x.type not in ("multiline_comment", "comment")]
                for j, part in enumerate(parts):
                    if part.type == "simple_identifier" and j + 1 < len(parts) and parts[j + 1].type == ":":
                        labels.append((text(part, src), False))
                    elif part.type in ("user_type", "optional_type", "array_type") and (j == 0 or parts[j - 1].type != ":"):
                        labels.append(("_", False))
                self.add_signature(name, labels)


def labels_match(call_labels, params):
    """True when a call with `call_labels` can bind to `params` (defaults may be left out)."""
    i = 0
    for label, has_default in params:
        if i < len(call_labels) and call_labels[i] == label:
            i += 1
        elif not has_default:
            return False
    return i == len(call_labels)


def call_labels(call, src):
    labels, trailing_closure = [], False
    suffix = next((c for c in call.children if c.type == "call_suffix"), None)
    if suffix is None:
        return labels, trailing_closure
    for part in suffix.children:
        if part.type == "value_arguments":
            for arg in (a for a in part.children if a.type == "value_argument"):
                label = next((x for x in arg.children if x.type == "value_argument_label"), None)
                labels.append(text(label, src) if label is not None else "_")
        elif part.type == "lambda_literal":
            trailing_closure = True
    return labels, trailing_closure


def callee_name(call, src):
    head = call.children[0]
    if head.type == "simple_identifier":
        return text(head, src), None
    if head.type == "navigation_expression":
        suffix = head.children[-1]
        ident = next((c for c in suffix.children if c.type == "simple_identifier"), None)
        base = head.children[0]
        base_name = text(base, src) if base.type in ("simple_identifier", "user_type", "type_identifier") else None
        return (text(ident, src) if ident is not None else None), base_name
    if head.type == "prefix_expression":
        ident = next((c for c in head.children if c.type == "simple_identifier"), None)
        return (text(ident, src) if ident is not None else None), ""
    return None, None


def api_problems(tree, src, decls):
    problems = []

    def line(n):
        return f"line {n.start_point[0] + 1}"

    for n in walk(tree.root_node):
        if n.type == "call_expression":
            name, base = callee_name(n, src)
            if not name:
                continue
            if name.startswith("XCTAssert") and any(c.type == "await_expression" for c in walk(n)):
                problems.append(f"{line(n)}: `await` inside {name}: its arguments are autoclosures that cannot be async")
            labels, closure = call_labels(n, src)
            if name in EXTERNAL_NAMES:
                EXTERNAL_USED.add(name)
                continue
            if name in decls.signatures:
                sigs = decls.signatures[name]
                if not any(labels_match(labels, s) or (closure and labels_match(labels + ["_"], s)) for s in sigs):
                    wanted = " | ".join("(" + ", ".join(f"{l}:" for l, _ in s) + ")" for s in sigs)
                    problems.append(f"{line(n)}: {name}({', '.join(l + ':' for l in labels)}) matches no declaration {wanted}")
            elif name not in decls.names and name not in decls.types:
                problems.append(f"{line(n)}: unknown function {name}")
        elif n.type == "navigation_expression":
            base = n.children[0]
            suffix = n.children[-1]
            ident = next((c for c in suffix.children if c.type == "simple_identifier"), None)
            if ident is None or base.type != "simple_identifier":
                continue
            type_name, member = text(base, src), text(ident, src)
            if type_name in decls.types and type_name in decls.members:
                if member not in decls.members[type_name] and member not in decls.signatures:
                    problems.append(f"{line(n)}: {type_name} has no member {member}")
        elif n.type in ("prefix_expression", "pattern"):
            # `.member` (implicit member) and `Type.member` patterns.
            kids = n.children
            for i, c in enumerate(kids):
                if c.type == "." and i + 1 < len(kids) and kids[i + 1].type == "simple_identifier":
                    member = text(kids[i + 1], src)
                    owner = kids[i - 1] if i > 0 and kids[i - 1].type == "user_type" else None
                    if owner is not None and text(owner, src) in decls.members:
                        if member not in decls.members[text(owner, src)]:
                            problems.append(f"{line(n)}: {text(owner, src)} has no member {member}")
                    elif member in EXTERNAL_NAMES:
                        EXTERNAL_USED.add(member)
                    elif member not in decls.names:
                        problems.append(f"{line(n)}: unknown member .{member}")
    return problems


# --- ABI -------------------------------------------------------------------------

def abi_checks(results, label, swift_path, header_path, library):
    swift = Path(swift_path).read_text(encoding="utf-8")
    lib = ctypes.CDLL(str(library))

    problems = []
    m = re.search(r"let bindings_contract_version = (\d+)", swift)
    if not m:
        problems.append("no bindings_contract_version in the generated Swift")
    else:
        fn = getattr(lib, "ffi_mynakit_uniffi_contract_version")
        fn.restype = ctypes.c_uint32
        if fn() != int(m.group(1)):
            problems.append(f"library contract {fn()}, Swift expects {m.group(1)}")
    results.check(f"[{label}] UniFFI contract version", problems)

    problems = []
    checksums = re.findall(r"\b(uniffi_mynakit_checksum_\w+)\(\) != (\d+)", swift)
    for name, expected in checksums:
        try:
            fn = getattr(lib, name)
        except AttributeError:
            problems.append(f"{name}: not in the library")
            continue
        fn.restype = ctypes.c_uint16
        fn.argtypes = []
        if fn() != int(expected):
            problems.append(f"{name}: library {fn()}, Swift expects {expected}")
    if not checksums:
        problems.append("no checksums found in the generated Swift")
    results.check(f"[{label}] {len(checksums)} API checksums match the library", problems)

    symbols = sorted(set(re.findall(r"\b((?:uniffi|ffi)_mynakit_\w+)\b", swift)))
    missing = [s for s in symbols if not hasattr(lib, s)]
    results.check(f"[{label}] {len(symbols)} symbols the Swift calls exist in the library", missing)

    header = Path(header_path).read_text(encoding="utf-8")
    declared = sorted(set(re.findall(r"^[A-Za-z_][\w \*]*?\b((?:uniffi|ffi)_mynakit_\w+)\(", header, re.M)))
    with tempfile.TemporaryDirectory() as tmp:
        c_file = Path(tmp) / "uses_header.c"
        refs = ",\n  ".join(f"(void (*)(void)){name}" for name in declared)
        c_file.write_text(
            f'#include "{Path(header_path).resolve()}"\n'
            f"void (*const mynakit_functions[])(void) = {{\n  {refs}\n}};\n"
            "int main(void) { return mynakit_functions[0] == 0; }\n",
            encoding="utf-8",
        )
        out = Path(tmp) / "uses_header"
        cmd = ["gcc", "-std=c11", "-Wall", "-Werror", "-Wno-unused-function",
               "-D_Nullable=", "-D_Nonnull=", str(c_file), "-o", str(out),
               f"-L{Path(library).parent}", "-lmynakit", f"-Wl,-rpath,{Path(library).parent}",
               "-Wl,--no-as-needed"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        problems = [l for l in (proc.stdout + proc.stderr).splitlines() if l.strip()][:20] if proc.returncode else []
        if not declared:
            problems.append("no functions found in the header")
        if not problems:
            run = subprocess.run([str(out)], capture_output=True, text=True)
            if run.returncode != 0:
                problems.append(f"the linked program failed: {run.returncode} {run.stderr.strip()}")
    results.check(f"[{label}] the C header compiles and its {len(declared)} functions link", problems)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", nargs=3, action="append", metavar=("LABEL", "GEN_DIR", "LIBRARY"), required=True,
                    help="a library build: label, directory of its generated Swift, the .so")
    ap.add_argument("--sources", nargs="+", required=True, help="hand-written Swift checked against the first build")
    ap.add_argument("--tests", nargs="*", default=[], help="hand-written Swift checked against the last build")
    ap.add_argument("--parse-only", nargs="*", default=[], help="Swift that is only parsed (Package.swift)")
    args = ap.parse_args()

    results = Results()
    parsed = {}

    def parsed_file(path):
        if path not in parsed:
            parsed[path] = parse(path)
        return parsed[path]

    generated = {}
    for label, gen_dir, _ in args.build:
        swift = Path(gen_dir) / "MynaKit.swift"
        tree, src = parsed_file(str(swift))
        results.check(f"[{label}] parse generated {swift.name}", syntax_errors(tree, src))
        generated[label] = str(swift)

    for path in args.sources + args.tests + args.parse_only:
        tree, src = parsed_file(path)
        results.check(f"parse {os.path.relpath(path)}", syntax_errors(tree, src))

    def decls_for(label, extra):
        d = Declarations()
        for path in [generated[label]] + extra:
            d.add_file(*parsed_file(path))
        return d

    first, last = args.build[0][0], args.build[-1][0]
    source_decls = decls_for(first, args.sources)
    for path in args.sources:
        tree, src = parsed_file(path)
        results.check(f"API use in {os.path.relpath(path)} (against [{first}])", api_problems(tree, src, source_decls))
    test_decls = decls_for(last, args.sources + args.tests)
    for path in args.tests:
        tree, src = parsed_file(path)
        results.check(f"API use in {os.path.relpath(path)} (against [{last}])", api_problems(tree, src, test_decls))

    for label, gen_dir, library in args.build:
        abi_checks(results, label, Path(gen_dir) / "MynaKit.swift", Path(gen_dir) / "MynaKitFFI.h", library)

    for label, gen_dir, library in args.build:
        found = sandbox_symbols(library)
        if label == "shipped":
            results.check(f"[{label}] no sandbox symbol in the shipped library", found)
        else:
            results.check(f"[{label}] the sandbox check sees the sandbox build's symbols (positive control)",
                          [] if found else ["no sandbox symbol found: the check could not fail"])

    hand_written = "\n".join(Path(p).read_text(encoding="utf-8") for p in args.sources + args.tests)
    stale = sorted(n for n in EXTERNAL_NAMES
                   if n not in EXTERNAL_USED and not re.search(rf"\b{re.escape(n)}\b", hand_written))
    results.check(f"allow-list: all {len(EXTERNAL_NAMES)} external names taken on trust still occur", stale)
    print(f"taken on trust (Swift/Foundation/XCTest/CoreNFC, not checked): {len(EXTERNAL_USED)} names used in calls")
    print("not checked: Swift types, overloads and the XCTests (no Swift toolchain here; run on a Mac:"
          " ios/scripts/build-xcframework.sh --sandbox && cd ios/build-sandbox && swift test)")

    print(f"{results.passed} passed, {results.failed} failed")
    sys.exit(0 if results.failed == 0 and results.passed > 0 else 1)


if __name__ == "__main__":
    main()
