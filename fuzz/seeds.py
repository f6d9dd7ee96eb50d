#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from the conformance vectors.

Usage: seeds.py <vectors dir> <corpus dir>
Each seed is one input in the target's own framing (see fuzz_targets/*.rs).
"""
import json
import pathlib
import sys


def write(directory: pathlib.Path, name: str, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def main() -> None:
    vectors = pathlib.Path(sys.argv[1])
    corpus = pathlib.Path(sys.argv[2])
    count = 0

    rings = json.loads((vectors / "ring_signatures.json").read_text())
    for group in ("valid", "invalid", "edge_cases"):
        for case in rings[group]:
            data = bytes.fromhex(case["message_hex"]) + bytes.fromhex(case["signature_hex"])
            write(corpus / "ring_verify", f"{group}-{case['id']}", data)
            count += 1

    smst = json.loads((vectors / "smst.json").read_text())
    for group in ("proofs", "tampered_proofs", "edge_proofs"):
        for case in smst[group]:
            data = bytes.fromhex(case["root_hex"]) + bytes.fromhex(case["proof_bytes_hex"])
            write(corpus / "smst_proof", f"{group}-{case['id']}", data)
            count += 1

    requests = json.loads((vectors / "relay_requests.json").read_text())
    for case in requests["cases"]:
        write(corpus / "relay_messages", f"request-{case['id']}", b"\x00" + bytes.fromhex(case["relay_request_hex"]))
        write(corpus / "relay_messages", f"http-{case['id']}", b"\x02" + bytes.fromhex(case["payload_hex"]))
        count += 2
    responses = json.loads((vectors / "relay_responses.json").read_text())
    for case in responses["cases"]:
        if case.get("relay_response_hex"):
            write(corpus / "relay_messages", f"response-{case['id']}", b"\x01" + bytes.fromhex(case["relay_response_hex"]))
            count += 1
    print(f"seeds: {count} files under {corpus}")


if __name__ == "__main__":
    main()
