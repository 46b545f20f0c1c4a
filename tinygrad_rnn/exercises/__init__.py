"""Exercises for the course pages, each with a checker that says what is wrong and where.

    python -m tinygrad_rnn.exercises list                 # every exercise and its page
    python -m tinygrad_rnn.exercises start NAME [FILE]    # write a template to FILE (NAME.py)
    python -m tinygrad_rnn.exercises check NAME [FILE]    # import FILE's function and check it

One module per exercise: its docstring is the task, `TEMPLATE` the starting file,
`FUNCTION` the name the checker imports, and `check(fn)` returns a success line or
raises `ExerciseFailure` naming the parameter, time step or entry that is wrong,
with the expected and the obtained value. Solutions live outside the package
(tests/exercise_solutions/), where a test runs every checker on them.
"""

from . import (
    batch_norm,
    bptt_shares,
    clip_by_norm,
    delayed_loss,
    echo_state,
    gru_cell,
    jacobian_step,
    lstm_cell,
    nonnormal_growth,
    omega_penalty,
    sequence_loss,
    sum_or_mean,
    truncated_bptt,
)
from .checking import ExerciseFailure, load

EXERCISES = {m.NAME: m for m in (jacobian_step, bptt_shares, sum_or_mean, nonnormal_growth, clip_by_norm,
                                 truncated_bptt, omega_penalty, echo_state, batch_norm, lstm_cell,
                                 gru_cell, delayed_loss, sequence_loss)}

__all__ = ["EXERCISES", "ExerciseFailure", "load", "check_file"]


def check_file(name: str, path) -> str:
    """Check the solution in `path` for exercise `name`: the success line, or ExerciseFailure."""
    exercise = EXERCISES[name]
    return exercise.check(load(path, exercise.FUNCTION))
