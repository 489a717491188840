"""Link a mention's text to codes: exact, folded, word-order, fuzzy, then embedding re-ranking.

Terms come from the packaged lexicon (ICD-10-CM, DOID, MeSH, SNOMED CT, UMLS, DrugBank,
HPO, LOINC) and the MeSH names learnt from BC5CDR train (:mod:`clinnlp.lexicon.mesh`).
Terms with the same folded text and label are merged, so one term carries every system's
code. For a mention ``(text, label)`` and the long forms of its abbreviations:

1. **exact** - the raw tokens are a case-sensitive term (``CHF``): match score 1.0;
2. **folded** - lower case, accents, plurals, hyphens, possessives (see
   :mod:`clinnlp.lexicon`): 0.97, or 1.0 when the text is the term's own surface form;
3. **word order** - the folded tokens, sorted, equal a term's (``failure heart``): 0.93;
4. **variant** - when the passes above found no code of the label's :data:`FILL_SYSTEMS`,
   rule-made rewrites of the folded words (:mod:`clinnlp.linking.variants`:
   ``hypotensive`` -> hypotension, ``cerebral`` -> brain): :data:`VARIANT_SCORE`;
5. **fuzzy** - character-trigram Jaccard over every term, the :data:`FUZZY_TOP` best,
   re-ranked by ``(1 - w) * jaccard + w * cosine`` of the encoder's embeddings (``w`` =
   :data:`EMBEDDING_WEIGHT`; 1.0, the cosine alone, was best of 0.25/0.5/0.75/1.0 on BC5CDR
   dev), scaled by :data:`FUZZY_SCALE` so fuzzy never beats exact. The trigrams choose
   the candidates, the embeddings order and score them.
   The fuzzy pass also runs when the exact passes found no code of one of the label's
   :data:`FILL_SYSTEMS` (a DO disease without an ICD-10-CM xref gets the nearest
   ICD-10-CM term's code, if it scores above the threshold).

A candidate term of a compatible label (DIAGNOSIS <-> FINDING) counts at
:data:`CROSS_LABEL_WEIGHT`; other labels are never used. Each system keeps its best code;
a code's score is ``match score x label weight x the code's own confidence`` (1.0 for a
source's own id, 0.9 for cross-references, the share of BC5CDR train mentions for MeSH).
Codes under the threshold are dropped; a mention with none left gets an explicit ``[]``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from clinnlp.errors import ConfigError
from clinnlp.lexicon import BLOCK_LABEL, exact_key, fold, folded_key, is_skipped
from clinnlp.lexicon.mesh import load_mesh_terms
from clinnlp.lexicon.mesh_descriptors import Descriptor, load_descriptors
from clinnlp.lexicon.store import load_lexicon
from clinnlp.linking.memo import LruMemo
from clinnlp.linking.variants import variants

How = Literal["exact", "folded", "word-order", "variant", "fuzzy"]

EXACT_SCORE = 1.0
FOLDED_SCORE = 0.97
WORD_ORDER_SCORE = 0.93
FUZZY_SCALE = 0.9
#: Score of a term reached by one rewrite of the mention (:mod:`clinnlp.linking.variants`),
#: less :data:`VARIANT_STEP` per further rewrite; a reordered rewrite counts one step less.
VARIANT_SCORE = 0.9
VARIANT_STEP = 0.04
#: Lowest trigram Jaccard similarity a fuzzy candidate may have.
MIN_SIMILARITY = 0.3
#: Fuzzy candidates (distinct term texts) kept for re-ranking.
FUZZY_TOP = 20
#: Weight of the embedding cosine in the fuzzy re-ranking score.
EMBEDDING_WEIGHT = 1.0
#: Weight of a candidate whose label differs but is compatible (a FINDING for a DIAGNOSIS).
CROSS_LABEL_WEIGHT = 0.9
#: Score of a MeSH id given by its descriptor's preferred name (NLM's own name for it;
#: a BC5CDR-train name wins where the annotators gave that name its id every time).
DESCRIPTOR_SCORE = 0.95
#: Weight of a BC5CDR-train short form's MeSH id (``PD``): the document's own definition, when found, is surer.
ACRONYM_WEIGHT = 0.9
#: Systems whose codes carry a MeSH id over to every term with the same code: a DrugBank
#: synonym (``Zyban``, ``hyoscine``) gets the MeSH id a BC5CDR-train name of that drug has.
BRIDGE_SYSTEMS = ("DrugBank", "DOID", "UMLS", "HPO")
#: Weight of a MeSH id carried over a bridge code (times the id's share of the code's votes).
BRIDGE_WEIGHT = 0.9
#: Fuzzy candidates re-ranked by embeddings (the trigram top; encoding more costs time for little).
RERANK_TOP = 10
#: Mentions whose codes a linker remembers (least recently used dropped first; about
#: 0.7 kB each): clinical notes repeat the same few thousand mention texts, so a batch run
#: links each once.
MEMO_SIZE = 20_000
#: Systems whose absence from every exact candidate sends a mention down the fuzzy path.
FILL_SYSTEMS: dict[str, tuple[str, ...]] = {
    "DIAGNOSIS": ("ICD-10-CM", "MeSH"),
    "MEDICATION": ("DrugBank", "MeSH"),
    "FINDING": ("HPO", "LOINC", "ICD-10-CM"),
}
#: Default threshold: codes scoring below it are not claimed. Chosen on BC5CDR dev gold spans
#: (train-only resources) as the lowest score band whose top codes are right at least half
#: the time: with w = 1.0, codes scoring 0.6-0.7 were right 35 % (Disease) / 47 % (Chemical)
#: of the time, 0.7-0.8 66 % / 48 % (``python -m clinnlp.bench.linker_eval``).
DEFAULT_THRESHOLD = 0.7

#: Systems per label, in the order a mention's codes are listed.
SYSTEMS: dict[str, tuple[str, ...]] = {
    "DIAGNOSIS": ("ICD-10-CM", "SNOMED CT", "UMLS", "MeSH", "DOID", "HPO"),
    "MEDICATION": ("DrugBank", "RxNorm", "MeSH", "UMLS"),
    "FINDING": ("HPO", "LOINC", "ICD-10-CM", "SNOMED CT", "UMLS", "MeSH", "DOID"),
}
_COMPATIBLE = {"DIAGNOSIS": ("FINDING",), "FINDING": ("DIAGNOSIS",), "MEDICATION": ()}
MESH_SYSTEM = "MeSH"


@dataclass
class Term:
    """A distinct (folded text, label) with every system's codes merged."""

    text: str
    surface: str
    label: str
    codes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def add(self, code: dict[str, Any]) -> None:
        key = (code["system"], str(code["code"]))
        old = self.codes.get(key)
        if old is None or float(code.get("score") or 1.0) > float(old.get("score") or 1.0):
            self.codes[key] = code


@dataclass(frozen=True)
class Match:
    """A candidate term for a query with its match score."""

    term: int
    score: float
    how: How


def _fuzzy_text(tokens: tuple[str, ...] | list[str]) -> str:
    return " ".join(fold(t) for t in tokens if not is_skipped(t) and not t.isspace())


def _trigrams(text: str) -> set[str]:
    padded = f" {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    import spacy

    return spacy.blank("en").tokenizer


def descriptor_code(descriptor: Descriptor) -> dict[str, Any]:
    """The MeSH code a descriptor's preferred name gives (the linker's and ``clinnlp lookup``'s)."""
    return {"system": MESH_SYSTEM, "code": descriptor.mesh, "display": descriptor.surface, "score": DESCRIPTOR_SCORE}


def _first_lower(text: str) -> str:
    """``text`` with its first letter in lower case: a capital at the start of a sentence or
    a list item (``Diabetes``) is not another spelling of the term (``diabetes``)."""
    return text[:1].lower() + text[1:]


def _tokens(text: str) -> list[str]:
    return [t.text for t in _tokenizer()(text) if not t.is_space]


class TermIndex:
    """Exact, folded, word-order and trigram indexes over the merged terms."""

    def __init__(
        self,
        lexicon_path: str | None = None,
        mesh_path: str | None = None,
        use_mesh: bool = True,
        descriptor_path: str | None = None,
    ) -> None:
        self.terms: list[Term] = []
        self._by_text: dict[tuple[str, str], int] = {}
        self.exact: dict[tuple[str, ...], list[int]] = defaultdict(list)
        self.folded: dict[tuple[str, ...], list[int]] = defaultdict(list)
        self.bag: dict[tuple[str, ...], list[int]] = defaultdict(list)
        lexicon = load_lexicon(lexicon_path)
        for case_sensitive, table in ((True, lexicon.exact), (False, lexicon.folded)):
            for key, entry in table.items():
                if entry.label == BLOCK_LABEL or not entry.codes_json:
                    continue
                tid = self._term(key, entry.surface, entry.label, case_sensitive)
                for code in entry.codes():
                    self.terms[tid].add(code)
        self.exact_only: set[int] = set()  # terms left out of the fuzzy (trigram) pass
        if use_mesh:
            self._add_mesh(mesh_path)
            self._bridge_mesh()
            self._add_descriptors(descriptor_path)
        self._build_trigrams()

    def _term(self, key: tuple[str, ...], surface: str, label: str, case_sensitive: bool) -> int:
        text = " ".join(key) if not case_sensitive else _fuzzy_text(key)
        tid = self._by_text.get((text, label)) if not case_sensitive else None
        if tid is None:
            tid = len(self.terms)
            self.terms.append(Term(text, surface, label))
            if not case_sensitive:
                self._by_text[(text, label)] = tid
        if case_sensitive:
            self.exact[key].append(tid)
        else:
            self.folded[key].append(tid)
            self.bag[tuple(sorted(key))].append(tid)
        return tid

    def _add_mesh(self, mesh_path: str | None) -> None:
        """BC5CDR-train names: each id scored by its share of the name's mentions."""
        terms = load_mesh_terms(mesh_path)
        totals: dict[tuple[tuple[str, ...], str, bool], int] = defaultdict(int)
        display_votes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for t in terms:
            totals[(t.key, t.label, t.case_sensitive)] += t.count
            if not t.case_sensitive:
                display_votes[t.mesh][t.surface] += t.count
        displays = {mesh: max(votes.items(), key=lambda kv: (kv[1], kv[0]))[0] for mesh, votes in display_votes.items()}
        acronym_terms: dict[tuple[str, ...], int] = {}
        for t in terms:
            if t.case_sensitive:  # one term per short form and label, so its ids compete by share
                tid = acronym_terms.get((*t.key, t.label))
                if tid is None:
                    tid = acronym_terms[(*t.key, t.label)] = self._term(t.key, t.surface, t.label, case_sensitive=True)
                weight = ACRONYM_WEIGHT
            else:
                tid = self._term(t.key, t.surface, t.label, case_sensitive=False)
                weight = 1.0
            share = weight * t.count / totals[(t.key, t.label, t.case_sensitive)]
            display = displays.get(t.mesh, t.surface)
            self.terms[tid].add({"system": MESH_SYSTEM, "code": t.mesh, "display": display, "score": round(share, 4)})

    def _bridge_mesh(self) -> None:
        """Give terms without a MeSH id the one their DrugBank/DOID/UMLS/HPO code shares with
        terms that have one: same-text terms of any label are read together, so a
        FINDING's HPO id learns from the DIAGNOSIS train name it shares its words with."""
        by_text: dict[str, list[int]] = defaultdict(list)
        for tid, term in enumerate(self.terms):
            by_text[term.text].append(tid)
        votes: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        displays: dict[str, Any] = {}
        for tids in by_text.values():
            codes = [c for tid in tids for c in self.terms[tid].codes.values()]
            mesh = [c for c in codes if c["system"] == MESH_SYSTEM]
            for bridge in {(c["system"], str(c["code"])) for c in codes if c["system"] in BRIDGE_SYSTEMS}:
                for c in mesh:
                    votes[bridge][str(c["code"])] += float(c.get("score") or 1.0)
                    displays.setdefault(str(c["code"]), c.get("display"))
        for term in self.terms:
            if any(system == MESH_SYSTEM for system, _ in term.codes):
                continue
            best: dict[str, float] = {}
            for system, code in term.codes:
                ids = votes.get((system, code))
                if not ids:
                    continue
                total = sum(ids.values())
                for mesh, vote in ids.items():
                    best[mesh] = max(best.get(mesh, 0.0), BRIDGE_WEIGHT * vote / total)
            for mesh, score in best.items():
                term.add({"system": MESH_SYSTEM, "code": mesh, "display": displays.get(mesh), "score": round(score, 4)})

    def _add_descriptors(self, descriptor_path: str | None) -> None:
        """MeSH preferred names (:mod:`clinnlp.lexicon.mesh_descriptors`): the id goes onto
        every term of the same words; a name no term has becomes a term of the label its id
        has elsewhere in the index (both DIAGNOSIS and MEDICATION when unknown), matched
        exactly or folded only, never as a fuzzy candidate."""
        labels_of: dict[str, set[str]] = defaultdict(set)
        for term in self.terms:
            for system, code in term.codes:
                if system == MESH_SYSTEM and term.label in ("DIAGNOSIS", "MEDICATION"):
                    labels_of[code].add(term.label)
        for d in load_descriptors(descriptor_path):
            code = descriptor_code(d)
            for key in d.keys():
                tids = self.folded.get(key, [])
                for tid in tids:
                    self.terms[tid].add(code)
                if tids:
                    continue
                for label in sorted(labels_of.get(d.mesh) or ("DIAGNOSIS", "MEDICATION")):
                    tid = self._term(key, d.surface, label, case_sensitive=False)
                    self.terms[tid].add(code)
                    self.exact_only.add(tid)

    def _build_trigrams(self) -> None:
        lists: dict[str, list[int]] = defaultdict(list)
        self.sizes = np.empty(len(self.terms), dtype=np.int32)
        for i, term in enumerate(self.terms):
            grams = _trigrams(term.text)
            self.sizes[i] = len(grams)
            if i in self.exact_only:
                continue
            for gram in grams:
                lists[gram].append(i)
        self.postings = {gram: np.asarray(p, dtype=np.int32) for gram, p in lists.items()}

    def fuzzy(self, text: str, top: int) -> list[tuple[int, float]]:
        """The ``top`` terms by trigram Jaccard with ``text`` (>= :data:`MIN_SIMILARITY`)."""
        query = _trigrams(text)
        grams = [g for g in query if g in self.postings]
        if not grams:
            return []
        overlap = np.bincount(np.concatenate([self.postings[g] for g in grams]), minlength=len(self.terms))
        similarity = overlap / (len(query) + self.sizes - overlap)
        hits = np.flatnonzero(similarity >= MIN_SIMILARITY)
        if len(hits) > top * 4:
            hits = hits[np.argpartition(-similarity[hits], top * 4)[: top * 4]]
        hits = hits[np.argsort(-similarity[hits], kind="stable")]
        return [(int(i), float(similarity[i])) for i in hits]


@lru_cache(maxsize=2)
def term_index(use_mesh: bool = True) -> TermIndex:
    """The packaged term index, built once per process (about 2 s)."""
    return TermIndex(use_mesh=use_mesh)


class Linker:
    """Links mention texts to per-system codes, with a score threshold."""

    def __init__(
        self,
        index: TermIndex | None = None,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        rerank: bool = True,
        encoder: Any = None,
        embedding_weight: float = EMBEDDING_WEIGHT,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"linker threshold must be in [0, 1], not {threshold}")
        if not 0.0 <= embedding_weight <= 1.0:
            raise ConfigError(f"embedding weight must be in [0, 1], not {embedding_weight}")
        self.embedding_weight = embedding_weight
        self._pending: list[str] | None = None  # texts to embed, while prefetching
        self.index = index if index is not None else term_index()
        self.threshold = threshold
        self.rerank = rerank
        self._encoder = encoder
        self._links: LruMemo[tuple[str, str, tuple[str, ...]], list[dict[str, Any]]] = LruMemo(MEMO_SIZE)
        # a batch's fuzzy queries, kept from prefetch to link (emptied at each prefetch;
        # bounded too, for callers that link one mention at a time without prefetching)
        self._trigram_hits: LruMemo[str, list[tuple[int, float]]] = LruMemo(MEMO_SIZE)

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from clinnlp.linking.embeddings import TermEncoder

            self._encoder = TermEncoder()
        return self._encoder

    def candidates(self, text: str, label: str, *, fuzzy: bool | None = None) -> list[Match]:
        """Matches for ``text`` of a label, best first; ``fuzzy=None`` means only if needed."""
        tokens = _tokens(text.strip())
        if not tokens:
            return []
        index = self.index
        matches: dict[int, Match] = {}

        def keep(tid: int, score: float, how: How) -> None:
            weight = self._label_weight(index.terms[tid].label, label)
            if weight == 0.0:
                return
            score *= weight
            old = matches.get(tid)
            if old is None or score > old.score:
                matches[tid] = Match(tid, score, how)

        for tid in index.exact.get(exact_key(tokens), ()):
            keep(tid, EXACT_SCORE, "exact")
        folded = folded_key(tokens)
        for tid in index.folded.get(folded, ()):
            same = _first_lower(index.terms[tid].surface) == _first_lower(text.strip())
            keep(tid, EXACT_SCORE if same else FOLDED_SCORE, "folded")
        for tid in index.bag.get(tuple(sorted(folded)), ()):
            keep(tid, WORD_ORDER_SCORE, "word-order")
        if fuzzy is True or (fuzzy is None and self._missing(matches.values(), label)):
            for variant, edits in variants(folded):
                score = VARIANT_SCORE - VARIANT_STEP * (edits - 1)
                for tid in index.folded.get(variant, ()):
                    keep(tid, score, "variant")
                for tid in index.bag.get(tuple(sorted(variant)), ()):
                    keep(tid, score - VARIANT_STEP, "variant")
        if fuzzy is True or (fuzzy is None and self._missing(matches.values(), label)):
            for tid, score in self._fuzzy(" ".join(folded)):
                keep(tid, score, "fuzzy")
        return sorted(matches.values(), key=lambda m: -m.score)

    def _missing(self, matches: Iterable[Match], label: str) -> bool:
        """Whether the matches so far lack every code system the label should be filled from."""
        found = {s for m in matches for s, _ in self.index.terms[m.term].codes}
        wanted = FILL_SYSTEMS.get(label, ())
        return any(s not in found for s in wanted) if label != "FINDING" else not found & set(wanted)

    def _fuzzy(self, text: str) -> list[tuple[int, float]]:
        """Trigram candidates, re-ranked by embedding cosine when ``rerank`` is on."""
        hits = self._trigram_hits.get(text)
        if hits is None:
            hits = self._trigram_hits[text] = self.index.fuzzy(text, FUZZY_TOP)
        if not hits:
            return []
        if not self.rerank:
            return [(tid, FUZZY_SCALE * sim) for tid, sim in hits[:FUZZY_TOP]]
        hits = hits[:RERANK_TOP]
        texts = [text] + [self.index.terms[tid].text for tid, _ in hits]
        if self._pending is not None:
            self._pending += texts
            return []
        vectors = self.encoder.encode(texts)
        cosines = vectors[1:] @ vectors[0]
        return [
            (tid, FUZZY_SCALE * ((1 - self.embedding_weight) * sim + self.embedding_weight * max(0.0, float(cos))))
            for (tid, sim), cos in zip(hits, cosines)
        ]

    def prefetch(self, mentions: list[tuple[str, str, tuple[str, ...]]]) -> None:
        """Embed, in one batch, every fuzzy candidate the ``(text, label, long forms)``
        mentions will need, so linking them one by one hits the cache: one forward pass
        per document instead of one per fuzzy mention."""
        self._trigram_hits.clear()
        if not self.rerank:
            return
        self._pending = []
        try:
            for text, label, long_forms in mentions:
                if _link_key(text, label, long_forms) in self._links:
                    continue
                for query in (text, *long_forms):
                    self.candidates(query, label)
            if self._pending:
                self.encoder.encode(self._pending)
        finally:
            self._pending = None

    @staticmethod
    def _label_weight(term_label: str, label: str) -> float:
        if label not in SYSTEMS or term_label == label:
            return 1.0
        return CROSS_LABEL_WEIGHT if term_label in _COMPATIBLE[label] else 0.0

    def link(self, text: str, label: str, long_forms: list[str] | tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Codes for one mention: each system's best code at or above the threshold, the
        label's systems first (in :data:`SYSTEMS` order), then any other by score; ``[]``
        when nothing clears the threshold. ``long_forms`` are expansions of the text (an
        abbreviation's definition in the same document), looked up as well."""
        key = _link_key(text, label, long_forms)
        known = self._links.get(key)
        if known is None:
            known = self._links[key] = self._link(text, label, long_forms)
        return [dict(code) for code in known]  # copies: callers may edit their mention's codes

    def _link(self, text: str, label: str, long_forms: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
        best: dict[str, tuple[float, dict[str, Any]]] = {}
        for query in (text, *long_forms):
            for match in self.candidates(query, label):
                for (system, _), code in self.index.terms[match.term].codes.items():
                    score = round(match.score * float(code.get("score") or 1.0), 4)
                    if score < self.threshold:
                        continue
                    old = best.get(system)
                    if old is None or score > old[0] or (score == old[0] and _more_general(system, code, old[1])):
                        best[system] = (score, code)
        order = SYSTEMS.get(label, ())
        ranked = sorted(best.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), -kv[1][0]))
        return [
            {"system": system, "code": str(code["code"]), "display": code.get("display"), "score": score}
            for system, (score, code) in ranked
        ]

    def top_code(self, text: str, label: str, system: str, long_forms: tuple[str, ...] = ()) -> str | None:
        """The best code of one system for a mention, or None (used by the evaluation)."""
        for code in self.link(text, label, long_forms):
            if code["system"] == system:
                return code["code"]
        return None


def code_generality(system: str, code: str, display: str | None) -> tuple[int, int]:
    """How ties between codes of one score are broken (lower first): within ICD-10-CM,
    "unspecified" first, then the shorter code (higher in the hierarchy). "cutaneous
    melanoma" carries C43.0 (lip) to C43.9 (skin, unspecified) with one score; the term's
    order picked the lip. Other systems keep their order."""
    if system != "ICD-10-CM":
        return (0, 0)
    return (0 if "unspecified" in (display or "").lower() else 1, len(code))


def _more_general(system: str, code: dict[str, Any], other: dict[str, Any]) -> bool:
    """On a tie, whether ``code`` goes before ``other`` (see :func:`code_generality`)."""
    return code_generality(system, str(code["code"]), code.get("display")) < code_generality(
        system, str(other["code"]), other.get("display"))


def _link_key(text: str, label: str, long_forms: Iterable[str]) -> tuple[str, str, tuple[str, ...]]:
    """What a mention's codes depend on: its text, its label and its long forms."""
    return (text, label, tuple(long_forms))
