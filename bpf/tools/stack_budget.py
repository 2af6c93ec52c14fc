#!/usr/bin/env python3
"""The combined BPF stack of each program of a BPF object, as the kernel's
verifier adds it up (check_max_stack_depth): along every call chain from
the program's entry, through global and static subprograms and bpf_loop()
callbacks, each frame's depth rounded up to 32 bytes, plus the 24 bytes a
frame gets when the verifier inlines a bpf_loop() call in it. Prints the
deepest chain of each program; exits 1 if one is over the budget.

usage: stack_budget.py OBJECT [BUDGET]   (BUDGET default 448 bytes; the
kernel's own limit is 512)
"""
import re
import subprocess
import sys

BPF_FUNC_LOOP = 181
LOOP_INLINE_EXTRA = 24  # the verifier's 3 spill slots for an inlined bpf_loop


def disassemble(obj):
    out = subprocess.run(["llvm-objdump", "-dr", "-t", obj], check=True,
                         capture_output=True, text=True).stdout
    funcs = {}  # (section, byte address) -> name
    for m in re.finditer(r"^([0-9a-f]{16}) \S+\s+F (\S+)\s+[0-9a-f]+ (\S+)$",
                         out, re.M):
        funcs[(m.group(2), int(m.group(1), 16))] = m.group(3)
    return out, funcs


def analyse(obj):
    text, funcs = disassemble(obj)
    depth, calls, loops, entries = {}, {}, set(), []
    section, fn, last = None, None, None
    for line in text.splitlines():
        m = re.match(r"^Disassembly of section (\S+):", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^([0-9a-f]{16}) <(\S+)>:", line)
        if m:
            name = funcs.get((section, int(m.group(1), 16)))
            if name:
                fn = name
                depth.setdefault(fn, 0)
                calls.setdefault(fn, set())
                if section != ".text":
                    entries.append(fn)
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+((?:[0-9a-f]{2} ){7}[0-9a-f]{2})\s+(.*)$", line)
        if m and fn:
            off, raw, asm = int(m.group(1)), m.group(2).split(), m.group(3)
            last = (off, raw, asm)
            for d in re.findall(r"r10 - (\d+)", asm):
                depth[fn] = max(depth[fn], int(d))
            if raw[0] == "85":  # call
                imm = int.from_bytes(bytes.fromhex("".join(raw[4:8])),
                                     "little", signed=True)
                src = int(raw[1], 16) >> 4
                if src == 1 and imm != -1:  # a pc-relative subprogram call
                    tgt = funcs.get((section, (off + imm + 1) * 8))
                    if tgt:
                        calls[fn].add(tgt)
                elif src == 0 and imm == BPF_FUNC_LOOP:
                    loops.add(fn)
            continue
        m = re.match(r"^\s+[0-9a-f]+:\s+R_BPF_64_(32|64)\s+(\S+)", line)
        if m and fn and last:
            kind, sym = m.group(1), m.group(2)
            if kind == "32":  # a call: to a function of the object (a
                # kfunc such as bpf_rdonly_cast runs on the kernel's stack)
                if sym in funcs.values():
                    calls[fn].add(sym)
            elif sym == ".text":  # a callback's address
                a = re.search(r"= (-?\d+) ll", last[2])
                if a:
                    tgt = funcs.get((".text", int(a.group(1))))
                    if tgt:
                        calls[fn].add(tgt)
    return depth, calls, loops, entries


def frame(fn, depth, loops):
    d = depth.get(fn, 0) + (LOOP_INLINE_EXTRA if fn in loops else 0)
    return (max(d, 1) + 31) // 32 * 32


def deepest(fn, depth, calls, loops, seen=()):
    if fn in seen:
        raise SystemExit(f"recursion through {fn}")
    best = (0, [])
    for c in calls.get(fn, ()):
        best = max(best, deepest(c, depth, calls, loops, seen + (fn,)))
    own = frame(fn, depth, loops)
    return (own + best[0], [f"{fn}({own})"] + best[1])


def main():
    obj = sys.argv[1]
    budget = int(sys.argv[2]) if len(sys.argv) > 2 else 448
    depth, calls, loops, entries = analyse(obj)
    worst = 0
    for e in entries:
        total, chain = deepest(e, depth, calls, loops)
        worst = max(worst, total)
        print(f"{e}: {total} bytes: {' -> '.join(chain)}")
    print(f"largest combined stack: {worst} bytes (budget {budget}, "
          f"kernel limit 512)")
    sys.exit(1 if worst > budget else 0)


if __name__ == "__main__":
    main()
