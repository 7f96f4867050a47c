"""Derive mockvertex's shipped JSON Schemas from the aiplatform discovery documents.

A development tool, never imported by the package. It reads the discovery documents that
ship inside ``google-api-python-client`` and the proto descriptors of the installed
``google-cloud-aiplatform`` (for full proto names and enum numbers), merges the hand-written
patches in ``schemas/overrides/``, and writes ``mockvertex/schemas/``.

    python schemas/derive.py           # regenerate
    python schemas/derive.py --check   # exit 1 with a diff if the committed output is stale

How each discovery construct becomes JSON Schema is described in ``schemas/README.md``.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import importlib
import importlib.metadata
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "mockvertex" / "schemas"
OVERRIDES_DIR = Path(__file__).resolve().parent / "overrides"

FORMAT_VERSION = 1
DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://mockvertex.invalid/schemas/"
SOURCE_PACKAGE = "google-api-python-client"
PROTO_PACKAGE = "google-cloud-aiplatform"
RPC_PACKAGE = "googleapis-common-protos"

INT32 = {"minimum": -(2**31), "maximum": 2**31 - 1}
UINT32 = {"minimum": 0, "maximum": 2**32 - 1}
INT_STRING_PATTERN = "^-?[0-9]+$"
DURATION_PATTERN = "^-?[0-9]+(\\.[0-9]{1,9})?s$"


@dataclass(frozen=True)
class Version:
    name: str  # "v1"
    prefix: str  # discovery id prefix, "GoogleCloudAiplatformV1"
    types_module: str  # proto-plus types module
    proto_package: str  # "google.cloud.aiplatform.v1"


VERSIONS = (
    Version(
        "v1",
        "GoogleCloudAiplatformV1",
        "google.cloud.aiplatform_v1.types",
        "google.cloud.aiplatform.v1",
    ),
    Version(
        "v1beta1",
        "GoogleCloudAiplatformV1beta1",
        "google.cloud.aiplatform_v1beta1.types",
        "google.cloud.aiplatform.v1beta1",
    ),
)

# output file stem -> (root message short name, $comment lead)
ROOTS: dict[str, tuple[str, str]] = {
    "GenerateContentRequest": ("GenerateContentRequest", ""),
    "GenerateContentResponse": ("GenerateContentResponse", ""),
    "GenerateContentStreamChunk": (
        "GenerateContentResponse",
        "one chunk of a streamGenerateContent stream (an SSE data line or a JSON array "
        "element), shaped like a GenerateContentResponse; ",
    ),
    "CountTokensRequest": ("CountTokensRequest", ""),
    "CountTokensResponse": ("CountTokensResponse", ""),
}


# --------------------------------------------------------------------------------------------
# Inputs


def _discovery_path(version: Version) -> Path:
    import googleapiclient  # type: ignore[import-untyped]

    base = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    return base / f"aiplatform.{version.name}.json"


def _load_discovery(version: Version) -> dict[str, Any]:
    with _discovery_path(version).open(encoding="utf-8") as f:
        doc: dict[str, Any] = json.load(f)
    return doc


def _dist_version(name: str) -> str:
    return importlib.metadata.version(name)


class _ProtoIndex:
    """Message and enum descriptors of one installed aiplatform proto package."""

    def __init__(self, version: Version) -> None:
        import proto  # type: ignore[import-untyped]

        self.package = version.proto_package
        module = importlib.import_module(version.types_module)
        files: dict[str, Any] = {}
        for attr in dir(module):
            obj = getattr(module, attr)
            if isinstance(obj, type) and issubclass(obj, proto.Message):
                message_class: Any = obj
                fd = message_class.pb().DESCRIPTOR.file
                files[fd.name] = fd
        # flattened relative name ("GenerateContentResponsePromptFeedback") -> descriptor
        self.messages: dict[str, Any] = {}
        self.enums: dict[str, Any] = {}  # full name -> descriptor
        for fd in sorted(files.values(), key=lambda f: f.name):
            if fd.package != self.package:
                continue
            for ed in fd.enum_types_by_name.values():
                self.enums[ed.full_name] = ed
            for md in fd.message_types_by_name.values():
                self._add(md)

    def _add(self, md: Any) -> None:
        self.messages.setdefault(self.relative(md.full_name).replace(".", ""), md)
        for ed in md.enum_types:
            self.enums[ed.full_name] = ed
        for nested in md.nested_types:
            self._add(nested)

    def relative(self, full_name: str) -> str:
        return full_name.removeprefix(self.package + ".")


# --------------------------------------------------------------------------------------------
# Resolution of discovery ids to proto names


@dataclass
class _Message:
    id: str  # discovery id
    key: str  # $defs key
    full_name: str
    descriptor: Any  # MessageDescriptor of this or the sibling version, or None
    how: str  # "proto" | "field" | "<other version> proto" | "heuristic"


@dataclass
class _Enum:
    full_name: str
    values: list[str]
    numbers: dict[str, int]
    deprecated: list[str]
    how: str
    key: str = ""
    users: list[str] = field(default_factory=list)


def _upper_camel(name: str) -> str:
    return name[:1].upper() + name[1:]


def _ref_of(prop: dict[str, Any]) -> str | None:
    """The discovery id a property (or its array items / map values) refers to."""
    inner = prop.get("items", prop)
    if inner.get("type") == "object" and isinstance(inner.get("additionalProperties"), dict):
        inner = inner["additionalProperties"]
    ref = inner.get("$ref")
    return ref if isinstance(ref, str) else None


def _enum_of(prop: dict[str, Any]) -> list[str] | None:
    inner = prop.get("items", prop)
    values = inner.get("enum")
    return list(values) if isinstance(values, list) else None


def _reachable(schemas: dict[str, Any], roots: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    stack = list(reversed(roots))
    while stack:
        sid = stack.pop()
        if sid in seen:
            continue
        seen[sid] = None
        props = schemas[sid].get("properties", {})
        for name in sorted(props, reverse=True):
            ref = _ref_of(props[name])
            if ref is not None and ref not in seen:
                stack.append(ref)
    return list(seen)


class _Resolver:
    """Maps one version's reachable discovery ids and enum properties to proto names."""

    def __init__(
        self, version: Version, doc: dict[str, Any], own: _ProtoIndex, other: _ProtoIndex
    ) -> None:
        self.version = version
        self.schemas: dict[str, Any] = doc["schemas"]
        self.own = own
        self.other = other
        self.ids = _reachable(self.schemas, [version.prefix + r for r, _ in ROOTS.values()])
        self.messages: dict[str, _Message] = {}
        self.enums: dict[str, _Enum] = {}  # full name -> enum
        self.enum_of_field: dict[tuple[str, str], str] = {}  # (id, json name) -> full name
        self._resolve_messages()
        self._resolve_enums()
        self._assign_keys()

    # -- messages --------------------------------------------------------------------------
    def _short(self, sid: str) -> str | None:
        return sid[len(self.version.prefix) :] if sid.startswith(self.version.prefix) else None

    def _key(self, sid: str) -> str:
        return self._short(sid) or sid

    def _resolve_messages(self) -> None:
        found: dict[str, tuple[str, Any, str]] = {}
        for sid in self.ids:
            short = self._short(sid)
            if short is not None and short in self.own.messages:
                md = self.own.messages[short]
                found[sid] = (md.full_name, md, "proto")
        # a proto field that refers to a still-unknown id names its type (google.type.Date)
        changed = True
        while changed:
            changed = False
            for sid in self.ids:
                if sid not in found or found[sid][1] is None:
                    continue
                md = found[sid][1]
                for name, prop in self.schemas[sid].get("properties", {}).items():
                    ref = _ref_of(prop)
                    fd = md.fields_by_camelcase_name.get(name)
                    if ref is None or ref in found or fd is None or fd.message_type is None:
                        continue
                    target = fd.message_type
                    if target.GetOptions().map_entry:
                        target = target.fields_by_name["value"].message_type
                        if target is None:
                            continue
                    found[ref] = (target.full_name, target, "field")
                    changed = True
        for sid in self.ids:
            if sid in found:
                continue
            short = self._short(sid)
            if short is not None and short in self.other.messages:
                md = self.other.messages[short]
                rel = self.other.relative(md.full_name)
                found[sid] = (f"{self.own.package}.{rel}", md, f"{self.other.package} proto")
        for sid in self.ids:
            if sid not in found:
                found[sid] = (self._guess_message(sid, found), None, "heuristic")
        for sid in self.ids:
            name, md, how = found[sid]
            self.messages[sid] = _Message(sid, self._key(sid), name, md, how)

    def _guess_message(self, sid: str, found: dict[str, tuple[str, Any, str]]) -> str:
        """Nest under the longest discovery-id prefix that refers to it, else top level.

        ``ToolGoogleSearchWebSearch`` -> ``Tool.GoogleSearch.WebSearch`` because
        ``ToolGoogleSearch`` exists and refers to it (directly or via one of its own nested
        types); ``AudioTranscriptionConfig`` stays top level because ``AudioTranscription``
        does not refer to it.
        """
        short = self._short(sid)
        if short is None:
            head, _, tail = sid.partition("Type")
            return f"google.type.{tail}" if head == "Google" else sid
        users = {
            other
            for other in self.ids
            if any(_ref_of(p) == sid for p in self.schemas[other].get("properties", {}).values())
        }
        for cut in range(len(short) - 1, 0, -1):
            parent = self.version.prefix + short[:cut]
            if not short[cut].isupper() or parent not in self.schemas:
                continue
            parent_name = (
                found[parent][0] if parent in found else self._guess_message(parent, found)
            )
            if parent in users or any(
                u in found and found[u][0].startswith(parent_name + ".") for u in users
            ):
                return f"{parent_name}.{short[cut:]}"
        return f"{self.own.package}.{short}"

    # -- enums -----------------------------------------------------------------------------
    def _resolve_enums(self) -> None:
        for sid in self.ids:
            msg = self.messages[sid]
            for name, prop in sorted(self.schemas[sid].get("properties", {}).items()):
                values = _enum_of(prop)
                if values is None:
                    continue
                inner = prop.get("items", prop)
                deprecated = [
                    v for v, d in zip(values, inner.get("enumDeprecated", []), strict=False) if d
                ]
                full, ed, how = self._find_enum(msg, name, values)
                numbers = {}
                if ed is not None:
                    numbers = {
                        v: ed.values_by_name[v].number for v in values if v in ed.values_by_name
                    }
                known = self.enums.get(full)
                if known is None:
                    known = _Enum(full, values, numbers, deprecated, how)
                    self.enums[full] = known
                elif known.values != values:
                    raise SystemExit(
                        f"{self.version.name}: enum {full} lists different values at "
                        f"{sid}.{name} than at {known.users[0]}: {values} vs {known.values}"
                    )
                known.users.append(f"{sid}.{name}")
                self.enum_of_field[(sid, name)] = full

    def _find_enum(self, msg: _Message, name: str, values: list[str]) -> tuple[str, Any, str]:
        short = self._short(msg.id)
        sibling = self.other.messages.get(short) if short is not None else None
        for md in (msg.descriptor, sibling):
            fd = md.fields_by_camelcase_name.get(name) if md is not None else None
            if fd is None or fd.enum_type is None:
                continue
            ed = fd.enum_type
            if ed.full_name.startswith(self.other.package + "."):
                rel = self.other.relative(ed.full_name)
                return f"{self.own.package}.{rel}", ed, f"{self.other.package} proto"
            return ed.full_name, ed, "proto"
        same = [ed for ed in self.own.enums.values() if [v.name for v in ed.values] == values]
        if len(same) == 1:
            return same[0].full_name, same[0], "same values"
        return f"{msg.full_name}.{_upper_camel(name)}", None, "heuristic"

    def _assign_keys(self) -> None:
        message_keys = {m.key for m in self.messages.values()}
        by_short: dict[str, list[_Enum]] = {}
        for enum in self.enums.values():
            by_short.setdefault(enum.full_name.rsplit(".", 1)[1], []).append(enum)
        taken: set[str] = set()
        for short, group in sorted(by_short.items()):
            for enum in group:
                parts = enum.full_name.split(".")
                if len(group) == 1 and short not in message_keys:
                    key = short
                elif self._is_top_level(enum.full_name):
                    key = short if short not in message_keys else f"{short}Enum"
                else:
                    key = f"{parts[-2]}.{short}"
                if key in taken:
                    key = self.own.relative(enum.full_name)
                taken.add(key)
                enum.key = key

    def _is_top_level(self, full_name: str) -> bool:
        parent = full_name.rsplit(".", 1)[0]
        return parent in {self.own.package, "google.protobuf", "google.type"}


# --------------------------------------------------------------------------------------------
# Conversion


def _is_output_only(prop: dict[str, Any]) -> bool:
    return bool(prop.get("readOnly")) or str(prop.get("description", "")).startswith("Output only.")


def _scalar(prop: dict[str, Any], where: str) -> dict[str, Any]:
    typ, fmt = prop.get("type"), prop.get("format")
    if typ == "any":
        return {"x-proto-type": "google.protobuf.Value"}
    if typ == "boolean":
        return {"type": "boolean", "x-proto-type": "TYPE_BOOL"}
    if typ == "number":
        if fmt not in ("float", "double"):
            raise SystemExit(f"{where}: unknown number format {fmt!r}")
        return {"type": "number", "x-proto-type": f"TYPE_{fmt.upper()}"}
    if typ == "integer":
        if fmt == "int32":
            return {"type": "integer", **INT32, "x-proto-type": "TYPE_INT32"}
        if fmt == "uint32":
            return {"type": "integer", **UINT32, "x-proto-type": "TYPE_UINT32"}
        raise SystemExit(f"{where}: unknown integer format {fmt!r}")
    if typ == "string":
        if fmt is None:
            return {"type": "string"}
        if fmt == "byte":
            return {"type": "string", "contentEncoding": "base64", "x-proto-type": "TYPE_BYTES"}
        if fmt == "google-duration":
            return {
                "type": "string",
                "pattern": DURATION_PATTERN,
                "x-proto-type": "google.protobuf.Duration",
            }
        if fmt == "google-datetime":
            return {
                "type": "string",
                "format": "date-time",
                "x-proto-type": "google.protobuf.Timestamp",
            }
        if fmt == "google-fieldmask":
            return {"type": "string", "x-proto-type": "google.protobuf.FieldMask"}
        if fmt in ("int64", "uint64"):
            return {
                "type": ["integer", "string"],
                "pattern": INT_STRING_PATTERN,
                "x-proto-type": f"TYPE_{fmt.upper()}",
            }
        raise SystemExit(f"{where}: unknown string format {fmt!r}")
    raise SystemExit(f"{where}: unknown discovery type {typ!r}")


class _Converter:
    def __init__(self, res: _Resolver) -> None:
        self.res = res

    def defs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for sid in self.res.ids:
            msg = self.res.messages[sid]
            props = self.res.schemas[sid].get("properties", {})
            out[msg.key] = {
                "type": "object",
                "x-proto-message": msg.full_name,
                "properties": {
                    name: self._field(sid, name, prop) for name, prop in sorted(props.items())
                },
                "additionalProperties": False,
            }
        for enum in self.res.enums.values():
            body: dict[str, Any] = {
                "type": "string",
                "enum": enum.values,
                "x-proto-enum": enum.full_name,
                "x-enum-numbers": enum.numbers,
            }
            if enum.deprecated:
                body["x-enum-deprecated"] = enum.deprecated
            out[enum.key] = body
        return out

    def _field(self, sid: str, name: str, prop: dict[str, Any]) -> dict[str, Any]:
        where = f"{sid}.{name}"
        if prop.get("type") == "array":
            schema: dict[str, Any] = {
                "type": "array",
                "items": self._element(sid, name, prop["items"], where + "[]"),
            }
        else:
            schema = self._element(sid, name, prop, where)
        if _is_output_only(prop):
            schema = {**schema, "readOnly": True}
        if prop.get("deprecated"):
            schema = {**schema, "deprecated": True}
        return schema

    def _element(self, sid: str, name: str, prop: dict[str, Any], where: str) -> dict[str, Any]:
        if "$ref" in prop:
            return {"$ref": "#/$defs/" + self.res.messages[prop["$ref"]].key}
        if "enum" in prop:
            full = self.res.enum_of_field[(sid, name)]
            return {"$ref": "#/$defs/" + self.res.enums[full].key}
        if prop.get("type") == "object":
            value = prop.get("additionalProperties")
            if not isinstance(value, dict):
                raise SystemExit(f"{where}: inline object without additionalProperties")
            if value.get("type") == "any":
                return {"type": "object", "x-proto-type": "google.protobuf.Struct"}
            return {
                "type": "object",
                "additionalProperties": self._element(sid, name, value, where + "{}"),
                "x-proto-map": True,
            }
        if prop.get("type") == "array":
            raise SystemExit(f"{where}: nested arrays are not a proto construct")
        return _scalar(prop, where)


def _prune(defs: dict[str, Any], root: str) -> dict[str, Any]:
    """The defs reachable from ``root`` through ``$ref``."""
    keep: set[str] = set()
    stack = [root]
    while stack:
        key = stack.pop()
        if key in keep:
            continue
        keep.add(key)
        stack.extend(r for r in _refs(defs[key]) if r not in keep)
    return {k: defs[k] for k in sorted(keep)}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v.removeprefix("#/$defs/")
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


# --------------------------------------------------------------------------------------------
# Overrides


def _load_overrides() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(OVERRIDES_DIR.glob("*.json")):
        with path.open(encoding="utf-8") as f:
            out.append((path.name, json.load(f)))
    return out


def _merge(base: dict[str, Any], patch: dict[str, Any], where: str) -> None:
    """Deep-merge ``patch`` into ``base``: dicts merge, anything else replaces, null deletes."""
    for key, value in patch.items():
        if value is None:
            if key not in base:
                raise SystemExit(f"{where}: cannot delete missing key {key!r}")
            del base[key]
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, f"{where}.{key}")
        else:
            base[key] = value


def _apply_overrides(
    version: str, defs: dict[str, Any], overrides: list[tuple[str, dict[str, Any]]]
) -> None:
    for fname, body in overrides:
        versions = body.get("versions", [v.name for v in VERSIONS])
        if version not in versions:
            continue
        for key, patch in body["defs"].items():
            if key not in defs:
                raise SystemExit(f"overrides/{fname}: {version} has no $defs entry {key!r}")
            for prop in patch.get("properties", {}):
                if prop not in defs[key].get("properties", {}):
                    raise SystemExit(f"overrides/{fname}: {version} {key} has no field {prop!r}")
            for prop in patch.get("required", []):
                if prop not in defs[key].get("properties", {}):
                    raise SystemExit(f"overrides/{fname}: {version} {key} has no field {prop!r}")
            _merge(defs[key], patch, f"overrides/{fname}:{key}")


# --------------------------------------------------------------------------------------------
# Status envelope


def _status_schema(comment: str) -> dict[str, Any]:
    from google.rpc import code_pb2  # type: ignore[import-untyped]

    code = code_pb2.DESCRIPTOR.enum_types_by_name["Code"]
    values = sorted(code.values, key=lambda v: v.number)
    return {
        "$schema": DRAFT,
        "$id": ID_BASE + "Status.schema.json",
        "$comment": comment,
        "$ref": "#/$defs/ErrorEnvelope",
        "$defs": {
            "ErrorEnvelope": {
                "type": "object",
                "properties": {"error": {"$ref": "#/$defs/Status"}},
                "required": ["error"],
                "additionalProperties": False,
            },
            "Status": {
                "type": "object",
                "x-proto-message": "google.rpc.Status",
                "properties": {
                    "code": {"type": "integer", "minimum": 100, "maximum": 599},
                    "message": {"type": "string"},
                    "status": {"$ref": "#/$defs/Code"},
                    "details": {"type": "array", "items": {"$ref": "#/$defs/Any"}},
                },
                "required": ["code", "message", "status"],
                "additionalProperties": False,
            },
            "Code": {
                "type": "string",
                "enum": [v.name for v in values],
                "x-proto-enum": "google.rpc.Code",
                "x-enum-numbers": {v.name: v.number for v in values},
            },
            "Any": {
                "type": "object",
                "x-proto-type": "google.protobuf.Any",
                "properties": {"@type": {"type": "string", "pattern": "^type\\.googleapis\\.com/"}},
                "required": ["@type"],
            },
        },
    }


# --------------------------------------------------------------------------------------------
# Driver


def _sorted(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _sorted(node[k]) for k in sorted(node)}
    if isinstance(node, list):
        return [_sorted(item) for item in node]
    return node


def _dump(obj: dict[str, Any]) -> str:
    """Top-level keys in the order given, everything below sorted; 2-space indent."""
    ordered = {k: _sorted(v) for k, v in obj.items()}
    return json.dumps(ordered, indent=2, ensure_ascii=False) + "\n"


def build() -> dict[str, str]:
    """Every generated file (path relative to ``mockvertex/schemas``) with its text."""
    client_version = _dist_version(SOURCE_PACKAGE)
    docs = {v.name: _load_discovery(v) for v in VERSIONS}
    revisions = {doc["revision"] for doc in docs.values()}
    if len(revisions) != 1:
        raise SystemExit(f"discovery documents disagree on revision: {sorted(revisions)}")
    revision = revisions.pop()
    indexes = {v.name: _ProtoIndex(v) for v in VERSIONS}
    overrides = _load_overrides()

    files: dict[str, str] = {}
    without_number: dict[str, list[str]] = {}
    guessed: dict[str, dict[str, str]] = {}
    for version in VERSIONS:
        other = next(v for v in VERSIONS if v is not version)
        res = _Resolver(version, docs[version.name], indexes[version.name], indexes[other.name])
        defs = _Converter(res).defs()
        _apply_overrides(version.name, defs, overrides)
        for msg in res.messages.values():
            if msg.how != "proto" and msg.how != "field":
                guessed[f"{version.name}/{msg.key}"] = {"name": msg.full_name, "how": msg.how}
        for enum in res.enums.values():
            missing = [v for v in enum.values if v not in enum.numbers]
            if missing:
                without_number[f"{version.name}/{enum.key}"] = missing
            if enum.how != "proto":
                guessed[f"{version.name}/{enum.key}"] = {"name": enum.full_name, "how": enum.how}
        for stem, (root, lead) in ROOTS.items():
            comment = (
                f"{lead}generated by schemas/derive.py from aiplatform.{version.name}.json "
                f"revision {revision} ({SOURCE_PACKAGE} {client_version}); do not edit"
            )
            doc = {
                "$schema": DRAFT,
                "$id": f"{ID_BASE}{version.name}/{stem}.schema.json",
                "$comment": comment,
                "$ref": f"#/$defs/{root}",
                "$defs": _prune(defs, root),
            }
            files[f"{version.name}/{stem}.schema.json"] = _dump(doc)

    rpc_version = _dist_version(RPC_PACKAGE)
    files["Status.schema.json"] = _dump(
        _status_schema(
            "Google error envelope {error: google.rpc.Status with the code name as status}; "
            f"generated by schemas/derive.py (status names from {RPC_PACKAGE} {rpc_version}); "
            "do not edit"
        )
    )
    manifest = {
        "x-mockvertex-format": FORMAT_VERSION,
        "source": {"package": SOURCE_PACKAGE, "version": client_version, "revision": revision},
        "protos": {"package": PROTO_PACKAGE, "version": _dist_version(PROTO_PACKAGE)},
        "files": {
            name: hashlib.sha256(text.encode("utf-8")).hexdigest()
            for name, text in sorted(files.items())
        },
        "enumValuesWithoutNumber": without_number,
        "protoNamesNotInInstalledProto": guessed,
    }
    files["MANIFEST.json"] = _dump(manifest)
    return files


def _diff(files: dict[str, str]) -> list[str]:
    lines: list[str] = []
    for name, text in sorted(files.items()):
        path = OUT_DIR / name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            lines.extend(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"committed/{name}",
                    f"derived/{name}",
                )
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 with a diff if the output is stale"
    )
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        diff = _diff(files)
        if diff:
            sys.stdout.writelines(diff)
            print("\nschemas are stale: run `python schemas/derive.py`", file=sys.stderr)
            return 1
        return 0
    for name, text in files.items():
        path = OUT_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files under {OUT_DIR.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
