#!/usr/bin/python3
"""alternate.py: runs two training commands side by side, one epoch at a
time, so that both see the same machine: the first runs until it finishes
an epoch, is paused (SIGSTOP), the second runs one epoch, is paused, and
so on. When one ends, the other runs on alone.

    tools/alternate.py [--names A,B] [--log DIR] -- COMMAND_A ... -- COMMAND_B ...

An epoch ends at a line holding "val_accuracy: X" (cnn-cl train) or
"test accuracy: X" (tools/torch-train.py); X is the epoch's accuracy. The
time of an epoch is the wall time from the command's start or resumption
to that line: its training, its evaluation, and whatever it did between
the previous epoch's line and this one (for cnn-cl, writing the
checkpoint). Each command's own time figures are not used, since a pause
may fall inside one of them. Each command's output goes to DIR/NAME.out
(default: the current folder). Prints every epoch as it ends, then a
Markdown table: each command's accuracy and seconds per epoch, and the
whole of each run (its epochs, its start-up and its end).
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time

EPOCH_END = re.compile(r"(?:val_accuracy|test accuracy): ([0-9.]+)")


class Run:
    """One command: its process, its output file, and its epochs so far."""

    def __init__(self, name, command, log_dir):
        self.name, self.command = name, command
        self.out = open(os.path.join(log_dir, name + ".out"), "w")
        self.proc = None
        self.epochs = []  # (accuracy, seconds)
        self.seconds = 0.0  # all its segments: the whole run's time

    def step(self):
        """Starts or resumes the command, and pauses it at its next epoch's
        end. False once it has exited."""
        t0 = time.perf_counter()
        if self.proc is None:
            self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True,
                                         start_new_session=True)
        else:
            os.killpg(self.proc.pid, signal.SIGCONT)
        for line in self.proc.stdout:
            self.out.write(line)
            m = EPOCH_END.search(line)
            if m:
                os.killpg(self.proc.pid, signal.SIGSTOP)
                seconds = time.perf_counter() - t0
                self.seconds += seconds
                self.epochs.append((float(m.group(1)), seconds))
                self.out.flush()
                return True
        self.proc.wait()
        self.seconds += time.perf_counter() - t0
        self.out.close()
        return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            os.killpg(self.proc.pid, signal.SIGCONT)
            self.proc.wait()


def usage(message):
    """Bad usage: exit 2, saying why."""
    print(f"alternate: {message}", file=sys.stderr)
    sys.exit(2)


def split_commands(argv):
    """The two commands after '--' separators: (options, [a, b])."""
    if argv.count("--") != 2:
        usage("give two commands, each after '--' (see --help)")
    first = argv.index("--")
    second = argv.index("--", first + 1)
    commands = [argv[first + 1:second], argv[second + 1:]]
    if not all(commands):
        usage("a command after '--' is empty")
    return argv[:first], commands


def table(runs):
    """The Markdown table of both runs' epochs and wholes."""
    names = [r.name for r in runs]
    lines = ["| epoch | " + " | ".join(f"{n} accuracy | {n} s" for n in names) + " |",
             "| ---: |" + " ---: | ---: |" * len(runs)]
    for e in range(max(len(r.epochs) for r in runs)):
        cells = [f"{r.epochs[e][0]:.4f} | {r.epochs[e][1]:.1f}" if e < len(r.epochs) else " | "
                 for r in runs]
        lines.append(f"| {e + 1} | " + " | ".join(cells) + " |")
    lines.append("| whole run | " + " | ".join(f" | {r.seconds:.1f}" for r in runs) + " |")
    return "\n".join(lines)


def main():
    argv = sys.argv[1:]
    options, commands = split_commands(argv) if "--" in argv else (argv, None)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", default="A,B", help="the two commands' names (A,B)")
    ap.add_argument("--log", default=".", help="folder of the commands' output files")
    args = ap.parse_args(options)
    if commands is None:
        split_commands(argv)
    names = args.names.split(",")
    if len(names) != 2 or len(set(names)) != 2 or not all(names):
        usage(f"--names '{args.names}': two different names, joined by ','")
    runs = [Run(n, c, args.log) for n, c in zip(names, commands)]
    live = list(runs)
    try:
        while live:
            for run in list(live):
                if run.step():
                    accuracy, seconds = run.epochs[-1]
                    print(f"{run.name} epoch {len(run.epochs)}: accuracy {accuracy:.4f}, "
                          f"{seconds:.1f} s", flush=True)
                else:
                    live.remove(run)
                    print(f"{run.name} exited with status {run.proc.returncode} "
                          f"({run.seconds:.1f} s in all)", flush=True)
    finally:
        for run in runs:
            run.stop()
    print(table(runs))
    return max(r.proc.returncode for r in runs) != 0


if __name__ == "__main__":
    sys.exit(main())
