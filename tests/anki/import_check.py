#!/usr/bin/env python3
"""Imports two `backoffice cards export` files into a throwaway Anki collection with Anki's own
text importer (the `anki` wheel, as the desktop app's File > Import does), and checks what a
person relies on when they export again later:

- the first file's header is the one Anki reads (tab, HTML, GUID/notetype/deck/tags columns,
  `#if matches:update current`) and every row becomes one note with its GUID, note type,
  deck, fields and tags;
- one card answered with Anki's scheduler (FSRS on) after the first import;
- importing the second file (made after an edit through `card_feedback` and/or after more
  cards) updates the same notes in place: no duplicate, the edit applied, new rows added,
  and the answered card's review log, due date, interval and memory state kept.

Usage: import_check.py EXPORT_FILE_1 EXPORT_FILE_2. Prints one JSON line with the counts, then
"N passed, M failed" like the MCP scripts; exits 1 on a failure. tests/anki/setup.sh makes the
venv (target/anki-venv) it runs in; tests/cards.rs runs it.
"""
import csv
import json
import os
import sys
import tempfile
import traceback

HEADER = [
    "#separator:tab",
    "#html:true",
    "#guid column:1",
    "#notetype column:2",
    "#deck column:3",
    "#tags column:6",
    "#if matches:update current",
]
FIELD_NAMES = {"Basic": ("Front", "Back"), "Cloze": ("Text", "Back Extra")}

passed = 0
failed = 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}{': ' + str(detail) if detail else ''}", flush=True)
    return bool(condition)


def read_export(path):
    """(header lines, {guid: row}) of an export, rows in file order, read like Anki reads them
    (tab-separated, double-quoted fields may hold quotes)."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    lines = text.split("\n")
    header = []
    while lines and lines[0].startswith("#"):
        header.append(lines.pop(0))
    rows = {}
    order = []
    for row in csv.reader([line for line in lines if line.strip()], delimiter="\t", quotechar='"'):
        assert len(row) == 6, f"{path}: a row with {len(row)} columns, not 6: {row}"
        guid, notetype, deck, first, second, tags = row
        assert guid not in rows, f"{path}: GUID {guid} twice"
        rows[guid] = {"notetype": notetype, "deck": deck, "fields": [first, second],
                      "tags": tags.split()}
        order.append(guid)
    return header, rows, order


def do_import(col, path):
    from anki.collection import ImportCsvRequest

    metadata = col.get_csv_metadata(path, None)
    result = col.import_csv(ImportCsvRequest(path=path, metadata=metadata))
    log = result.log
    counts = {k: len(getattr(log, k)) for k in (
        "new", "updated", "duplicate", "conflicting", "first_field_match", "missing_notetype",
        "missing_deck", "empty_first_field")}
    return metadata, counts


def notes_by_guid(col):
    out = {}
    for nid in col.find_notes(""):
        note = col.get_note(nid)
        out[note.guid] = note
    return out


def snapshot(col, cid):
    card = col.get_card(cid)
    memory = card.memory_state
    return {
        "type": card.type, "queue": card.queue, "due": card.due, "ivl": card.ivl,
        "reps": card.reps, "did": card.did,
        "stability": round(memory.stability, 4) if memory else None,
        "difficulty": round(memory.difficulty, 4) if memory else None,
        "revlog": col.db.scalar("select count() from revlog where cid = ?", cid),
    }


def cloze_numbers(text):
    import re
    return {int(n) for n in re.findall(r"\{\{c(\d+)::", text)}


def expected_cards(rows):
    return sum(len(cloze_numbers(r["fields"][0])) if r["notetype"] == "Cloze" else 1
               for r in rows.values())


def matches_file(col, notes, guid, row):
    """Whether the note holding `guid` is the row: note type, both fields, tags, deck."""
    note = notes.get(guid)
    if note is None:
        return f"no note with GUID {guid}"
    notetype = note.note_type()["name"]
    if notetype != row["notetype"]:
        return f"{guid}: note type {notetype}, file says {row['notetype']}"
    names = FIELD_NAMES[notetype]
    got = [note[names[0]], note[names[1]]]
    if got != row["fields"]:
        return f"{guid}: fields {got!r}, file says {row['fields']!r}"
    if sorted(note.tags) != sorted(row["tags"]):
        return f"{guid}: tags {note.tags}, file says {row['tags']}"
    decks = {col.decks.name(col.get_card(cid).did) for cid in note.card_ids()}
    if decks != {row["deck"]}:
        return f"{guid}: decks {decks}, file says {row['deck']}"
    return None


def main():
    if len(sys.argv) != 3:
        print("usage: import_check.py EXPORT_FILE_1 EXPORT_FILE_2", file=sys.stderr)
        return 2
    first_path, second_path = sys.argv[1], sys.argv[2]
    from anki.collection import Collection
    from anki.scheduler.v3 import CardAnswer

    header1, rows1, order1 = read_export(first_path)
    header2, rows2, _ = read_export(second_path)
    check("the first export's header is the one Anki reads", header1 == HEADER, header1)
    check("the second export's header too", header2 == HEADER, header2)
    check("the first export holds cards", len(rows1) > 0)
    check("every GUID is bo1:<card id>", all(g.startswith("bo1:c_") for g in list(rows1) + list(rows2)),
          [g for g in list(rows1) + list(rows2) if not g.startswith("bo1:c_")])
    check("note types are Basic or Cloze",
          all(r["notetype"] in FIELD_NAMES for r in list(rows1.values()) + list(rows2.values())))

    added = [g for g in rows2 if g not in rows1]
    changed = [g for g in rows2 if g in rows1 and rows2[g] != rows1[g]]
    same = [g for g in rows2 if g in rows1 and rows2[g] == rows1[g]]
    check("the second export changes or adds something", changed or added,
          "both files are the same")

    folder = tempfile.mkdtemp(prefix="anki-import-check-")
    col = Collection(os.path.join(folder, "collection.anki2"))
    counts = {"rows_1": len(rows1), "rows_2": len(rows2), "changed": len(changed),
              "added": len(added)}
    try:
        col.set_config("fsrs", True)
        metadata, log1 = do_import(col, first_path)
        counts["import_1"] = log1
        check("Anki reads the header: tab, HTML, GUID/notetype/deck/tags columns, update current",
              (metadata.delimiter, metadata.is_html, metadata.guid_column, metadata.notetype_column,
               metadata.deck_column, metadata.tags_column, metadata.dupe_resolution)
              == (0, True, 1, 2, 3, 6, 0),
              metadata)
        check("import 1: one new note per row, nothing else", log1["new"] == len(rows1)
              and sum(v for k, v in log1.items() if k != "new") == 0, log1)
        counts["notes_1"] = col.note_count()
        counts["cards_1"] = col.card_count()
        check("import 1: as many notes as rows", col.note_count() == len(rows1), col.note_count())
        check("import 1: one card per Basic note, one per cloze deletion",
              col.card_count() == expected_cards(rows1), (col.card_count(), expected_cards(rows1)))
        notes = notes_by_guid(col)
        wrong = [w for w in (matches_file(col, notes, g, r) for g, r in rows1.items()) if w]
        check("import 1: every note has its GUID, note type, fields, tags and deck", not wrong, wrong)
        check("import 1: every note is tagged backoffice",
              all("backoffice" in n.tags for n in notes.values()))

        # Answer one card with Anki's scheduler: the edited note's, else the first note's.
        target = (changed or order1)[0]
        note_ids = {g: n.id for g, n in notes.items()}
        cid = notes[target].card_ids()[0]
        card = col.get_card(cid)
        card.start_timer()
        states = col._backend.get_scheduling_states(cid)
        col.sched.answer_card(col.sched.build_answer(card=card, states=states, rating=CardAnswer.GOOD))
        before = snapshot(col, cid)
        counts["reviewed"] = {"guid": target, **before}
        check("the answered card has a review log entry and an FSRS memory state",
              before["revlog"] == 1 and before["reps"] == 1 and before["stability"] is not None,
              before)

        _, log2 = do_import(col, second_path)
        counts["import_2"] = log2
        counts["notes_2"] = col.note_count()
        counts["cards_2"] = col.card_count()
        check("import 2: changed rows update their notes, new rows are new, the rest untouched",
              (log2["updated"], log2["new"], log2["duplicate"]) == (len(changed), len(added), len(same))
              and log2["conflicting"] == 0 and log2["first_field_match"] == 0,
              log2)
        check("import 2: no note duplicated", col.note_count() == len(set(rows1) | set(rows2)),
              (col.note_count(), len(set(rows1) | set(rows2))))
        notes = notes_by_guid(col)
        check("import 2: the first import's notes kept their ids",
              all(notes[g].id == nid for g, nid in note_ids.items()))
        wrong = [w for w in (matches_file(col, notes, g, r) for g, r in rows2.items()) if w]
        check("import 2: every note now reads as the second file (the edit applied)", not wrong, wrong)
        after = snapshot(col, cid)
        check("import 2: the answered card kept its review log, due, interval and memory",
              after == before, {"before": before, "after": after})
    except Exception:  # noqa: BLE001 - report, then fail
        check("no exception", False, traceback.format_exc())
    finally:
        col.close()
    print(json.dumps(counts, ensure_ascii=False, sort_keys=True))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
