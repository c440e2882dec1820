"""The keyword options of Student.fit and mimic.Trainer, and the arguments of Student(...),
built from the library's option tables (_lib.TRAIN_OPTIONS, _lib.STUDENT_OPTIONS, read
through include/mimic/options.h) rather than mirrored by hand:

  - every field of mimic_train_options is a keyword of the same name, except pointers
    Python has no use for (the callbacks' user data); of the pointer fields, `validation`
    takes a Dataset, `progress` and `grad_reduce` take callables and `collective` a
    mimic.Collective;
  - Python-only spellings: checkpoint= for checkpoint_path, image_shape=(height, width) for
    image_height and image_width; None for any option means the library's default;
  - values are converted to text and set with mimic_train_option_set, so types, bounds and
    choices are the library's;
  - an option the caller gave that the other options make meaningless is refused with
    mimic_train_option_check_used;
  - the library's messages name options the Python way (Translator).
"""

import collections
import ctypes
import difflib
import inspect
import numbers
import operator
import os
import re
import textwrap

import numpy as np

from . import _lib
from ._errors import OptionError, last_error
from .dataset import Dataset
from .distributed import Collective

# Python-only spellings: keyword -> the fields it sets.
ALIASES = {"checkpoint": ("checkpoint_path",), "image_shape": ("image_height", "image_width")}
# Pointer fields the package fills from Python objects; other pointer fields are no keywords.
POINTER_KEYWORDS = ("validation", "progress", "grad_reduce", "collective")
# Student.fit's positional parameters after the dataset, in the order of the 1.0 signature.
FIT_POSITIONAL = ("loss", "epochs", "batch_size", "learning_rate", "momentum", "nesterov",
                  "weight_decay", "schedule", "temperature", "hard_weight", "validation",
                  "patience", "standardize", "seed", "threads", "progress")
# Student(...)'s names of mimic_student_options fields that differ from the field's name.
STUDENT_SPELLINGS = {"n_bottleneck": "bottleneck"}

Keyword = collections.namedtuple("Keyword", "name fields kind")  # kind: value, alias, pointer


def _train_keywords():
    by_field = {o.name: o for o in _lib.TRAIN_OPTIONS}
    out = collections.OrderedDict()
    for o in _lib.TRAIN_OPTIONS:
        if o.type != _lib.OPTION_POINTER:
            out[o.name] = Keyword(o.name, (o,), "value")
        elif o.name in POINTER_KEYWORDS:
            out[o.name] = Keyword(o.name, (o,), "pointer")
    for alias, fields in ALIASES.items():
        if all(f in by_field for f in fields):
            out[alias] = Keyword(alias, tuple(by_field[f] for f in fields), "alias")
    return out


#: Every keyword option of Student.fit / mimic.Trainer: name -> Keyword.
TRAIN_KEYWORDS = _train_keywords()
# How messages spell a field when the caller did not use its own name for it.
_PREFERRED = {field: alias for alias, fields in ALIASES.items() if alias in TRAIN_KEYWORDS
              for field in fields}
_STUDENT_SPELLED = {o.name: STUDENT_SPELLINGS.get(o.name, o.name) for o in _lib.STUDENT_OPTIONS}


# ---- messages -----------------------------------------------------------------------------

_NAME_RE = re.compile(r"(?<![\w.])(student_options|options)\.([A-Za-z_]\w*)")


class Translator:
    """message -> the message with "options.<field>" and "student_options.<field>" replaced
    by the Python argument that sets the field: the spelling the caller used when it used
    one (checkpoint_path=), else the package's (checkpoint=, image_shape=)."""

    def __init__(self, used=()):
        self.train = {o.name: _PREFERRED.get(o.name, o.name) for o in _lib.TRAIN_OPTIONS}
        for name in used:
            for opt in TRAIN_KEYWORDS[name].fields:
                self.train[opt.name] = name
                alias = _PREFERRED.get(opt.name)
                if alias is not None and alias != name:
                    # image_height= given: its sibling is image_width=, not image_shape=
                    for sibling in ALIASES[alias]:
                        self.train[sibling] = sibling

    def __call__(self, message):
        spelled = set()

        def repl(m):
            table = _STUDENT_SPELLED if m.group(1) == "student_options" else self.train
            name = table.get(m.group(2))
            if name is None:
                return m.group(0)
            spelled.add(name)
            return name

        text = _NAME_RE.sub(repl, message)
        # "set image_shape and image_shape" (two fields, one argument) -> "set image_shape"
        for name in spelled:
            word = re.escape(name)
            text = re.sub(r"\b%s(?: (?:and|or) %s\b)+" % (word, word), name, text)
        return text


# ---- values -------------------------------------------------------------------------------


def _choice_text(opt, value, keyword):
    names = [n for n, _ in opt.choices]
    if not isinstance(value, str):
        raise TypeError("%s: expected one of %s, got %r"
                        % (keyword, ", ".join(map(repr, names)), value))
    if value in names:
        return value
    folded = [n for n in names if n.lower() == value.lower()]  # "KD" is "kd"
    if len(folded) != 1:
        raise OptionError("%s: expected one of %s, got %r"
                          % (keyword, ", ".join(map(repr, names)), value), (keyword,))
    return folded[0]


def value_text(opt, value, keyword):
    """The Python value of option `opt` (given as `keyword`) as the text the library's
    setter parses (bytes). TypeError for a value of the wrong kind; the library checks the
    range."""
    t = opt.type
    if t == _lib.OPTION_BOOL:
        if isinstance(value, (bool, np.bool_)):
            return b"1" if value else b"0"
        if isinstance(value, numbers.Integral):
            return str(int(value)).encode()
        raise TypeError("%s: expected True or False, got %r" % (keyword, value))
    if t == _lib.OPTION_ENUM:
        return _choice_text(opt, value, keyword).encode()
    if t in (_lib.OPTION_INT32, _lib.OPTION_UINT64, _lib.OPTION_SIZE):
        try:
            return str(operator.index(value)).encode()
        except TypeError:
            raise TypeError("%s: expected an integer, got %s"
                            % (keyword, type(value).__name__)) from None
    if t == _lib.OPTION_DOUBLE:
        if isinstance(value, (str, bytes)):
            raise TypeError("%s: expected a number, got %r" % (keyword, value))
        try:
            return repr(float(value)).encode()
        except (TypeError, ValueError):
            raise TypeError("%s: expected a number, got %r" % (keyword, value)) from None
    if t == _lib.OPTION_STRING:
        try:
            text = os.fsencode(os.fspath(value))
        except TypeError:
            raise TypeError("%s: expected a path (str, bytes or os.PathLike), got %s"
                            % (keyword, type(value).__name__)) from None
        if b"\0" in text:
            raise ValueError("%s: the path contains a NUL character" % keyword)
        return text
    raise TypeError("%s: a %s field cannot be set from Python"
                    % (keyword, _lib.OPTION_TYPE_NAMES.get(t, str(t))))


def set_option(kind, struct, opt, value, keyword, translate):
    """Set field `opt` of `struct` (kind "train" or "student") to the Python `value` through
    the library's setter; returns the text handed over (a STRING field borrows it: keep it
    alive as long as the struct). OptionError (a ValueError) naming `keyword` when the
    library refuses the value."""
    text = value_text(opt, value, keyword)
    setter = (_lib.lib.mimic_train_option_set if kind == "train"
              else _lib.lib.mimic_student_option_set)
    status = setter(ctypes.byref(struct), opt.name.encode(), text)
    if status != 0:
        raw = last_error()
        raise OptionError(translate(raw), (keyword,), setter.__name__, raw, status)
    return text


# ---- Student.fit / Trainer keywords -------------------------------------------------------


def _flag_spellings():
    """The CLI flags as Python names ("lr", "batch", "warmup") -> the keyword they set."""
    out = {}
    for kw in TRAIN_KEYWORDS.values():
        for opt in kw.fields:
            if opt.cli_flag:
                out.setdefault(opt.cli_flag.lstrip("-").replace("-", "_"),
                               _PREFERRED.get(opt.name, opt.name))
    return out


def _suggestions(name):
    """Keywords the caller may have meant by `name`: the one whose CLI flag it spells
    (lr -> learning_rate), then close spellings of keywords and of flags."""
    flags = _flag_spellings()
    out = [flags[name]] if name in flags else []
    for close in difflib.get_close_matches(name, list(TRAIN_KEYWORDS), n=3, cutoff=0.6):
        if close not in out:
            out.append(close)
    for close in difflib.get_close_matches(name, list(flags), n=3, cutoff=0.75):
        if flags[close] not in out:
            out.append(flags[close])
    return out


def _unknown_message(function, names):
    text = "%s() got %s %s" % (function,
                               "an unexpected keyword argument" if len(names) == 1
                               else "unexpected keyword arguments",
                               ", ".join(map(repr, names)))
    hints = [(name, _suggestions(name)) for name in names]
    hints = [(name, close) for name, close in hints if close]
    if len(names) == 1 and hints:
        return "%s; did you mean %s?" % (text, " or ".join(map(repr, hints[0][1])))
    if hints:
        return "%s (%s)" % (text, "; ".join("%r: did you mean %s?"
                                            % (name, " or ".join(map(repr, close)))
                                            for name, close in hints))
    return "%s; the options are: %s" % (text, ", ".join(TRAIN_KEYWORDS))


def collect(function, args, kwargs):
    """The options of one fit/Trainer call: positional `args` (FIT_POSITIONAL order) merged
    into `kwargs`, unknown names refused (TypeError naming them and what was meant), two
    spellings of one field refused, None values dropped (None = the library's default).
    Returns an ordered dict keyword -> value."""
    if len(args) > len(FIT_POSITIONAL):
        raise TypeError("%s() takes at most %d positional options after the dataset (%d given)"
                        % (function, len(FIT_POSITIONAL), len(args)))
    given = collections.OrderedDict()
    for name, value in zip(FIT_POSITIONAL, args):
        given[name] = value
    for name, value in kwargs.items():
        if name in given:
            raise TypeError("%s() got multiple values for argument %r" % (function, name))
        given[name] = value
    unknown = [name for name in given if name not in TRAIN_KEYWORDS]
    if unknown:
        raise TypeError(_unknown_message(function, unknown))
    given = collections.OrderedDict((k, v) for k, v in given.items() if v is not None)
    owner = {}
    for name in given:
        for opt in TRAIN_KEYWORDS[name].fields:
            if opt.name in owner:
                raise TypeError("%s(): %s= and %s= both set %s; give one of them"
                                % (function, owner[opt.name], name, opt.name))
            owner[opt.name] = name
    return given


def set_train_options(o, given, translate):
    """Set every value keyword of `given` (from collect) in the TrainOptions `o` through the
    library. Pointer keywords are left to the caller. Returns the texts to keep alive."""
    keep = []
    for name, value in given.items():
        kw = TRAIN_KEYWORDS[name]
        if kw.kind == "pointer":
            continue
        values = (value,)
        if kw.kind == "alias" and len(kw.fields) > 1:
            try:
                values = tuple(value)
            except TypeError:
                values = ()
            if len(values) != len(kw.fields):
                raise TypeError("%s: expected (%s), got %r"
                                % (name, ", ".join(f.name for f in kw.fields), value))
        for opt, v in zip(kw.fields, values):
            keep.append(set_option("train", o, opt, v, name, translate))
    return keep


def check_used(o, given, translate):
    """OptionError (a ValueError) naming every keyword in `given` that has no effect with
    the other options in `o` (mimic_train_option_check_used), e.g. momentum= with the Adam
    optimizer."""
    problems = []
    for name in given:
        for opt in TRAIN_KEYWORDS[name].fields:
            if _lib.lib.mimic_train_option_check_used(ctypes.byref(o), opt.name.encode()) != 0:
                problems.append((name, last_error()))
                break
    if problems:
        raw = "; ".join(msg for _, msg in problems)
        raise OptionError(translate(raw), [name for name, _ in problems],
                          "mimic_train_option_check_used", raw)


def check_pointer(name, value):
    """TypeError unless `value` suits pointer keyword `name`."""
    if name == "validation" and not isinstance(value, Dataset):
        raise TypeError("validation: expected a mimic.Dataset, got %s" % type(value).__name__)
    if name in ("progress", "grad_reduce") and not callable(value):
        raise TypeError("%s: expected a callable, got %s" % (name, type(value).__name__))
    if name == "collective" and not isinstance(value, Collective):
        raise TypeError("collective: expected a mimic.Collective, got %s" % type(value).__name__)


def fit_signature():
    """inspect.Signature of Student.fit: the dataset, the positional options of the 1.0
    signature, then every other keyword option; every option defaults to None (the
    library's default)."""
    P = inspect.Parameter
    params = [P("self", P.POSITIONAL_OR_KEYWORD), P("dataset", P.POSITIONAL_OR_KEYWORD)]
    params += [P(n, P.POSITIONAL_OR_KEYWORD, default=None) for n in FIT_POSITIONAL
               if n in TRAIN_KEYWORDS]
    params += [P(n, P.KEYWORD_ONLY, default=None) for n in TRAIN_KEYWORDS
               if n not in FIT_POSITIONAL]
    return inspect.Signature(params)


def _default_text(kw):
    if kw.kind == "alias" or kw.kind == "pointer":
        return "None"
    opt = kw.fields[0]
    if opt.default_text:
        return opt.default_text
    if opt.type == _lib.OPTION_ENUM:
        return repr(dict((v, n) for n, v in opt.choices).get(int(opt.default), opt.default))
    if opt.type == _lib.OPTION_BOOL:
        return repr(bool(opt.default))
    if opt.default is None:
        return "None"
    if opt.type == _lib.OPTION_DOUBLE:
        return "%g" % opt.default
    return "%d" % opt.default


_ALIAS_HELP = {"checkpoint": "checkpoint file (a path), written atomically; sets checkpoint_path",
               "image_shape": "(height, width) of the images each input row holds, for flip "
                              "and shift; sets image_height and image_width"}
_POINTER_HELP = {"validation": "a mimic.Dataset evaluated after each epoch",
                 "progress": "callable(record) after each epoch; returning True stops",
                 "grad_reduce": "callable(grads) changing each step's flat float32 gradient "
                                "in place (deprecated: collective)",
                 "collective": "a mimic.Collective: train on several processes, each reading "
                               "its part of every batch (mimic.distributed)"}


def keyword_doc(indent="      ", width=92):
    """Lines describing every keyword option (from the library's table), grouped as the
    library groups them, for Student.fit's docstring."""
    groups = collections.OrderedDict()
    for kw in TRAIN_KEYWORDS.values():
        groups.setdefault(kw.fields[0].group or "other", []).append(kw)
    lines = []
    for group, kws in groups.items():
        lines.append("%s%s:" % (indent, group))
        for kw in kws:
            if kw.kind == "alias":
                text = _ALIAS_HELP.get(kw.name, "sets " + ", ".join(f.name for f in kw.fields))
            elif kw.kind == "pointer":
                text = _POINTER_HELP.get(kw.name, kw.fields[0].help or "")
            else:
                opt = kw.fields[0]
                text = opt.help or ""
                if opt.choices:
                    text += "; one of %s" % ", ".join(repr(n) for n, _ in opt.choices)
            text = "%s: %s [default: %s]" % (kw.name, text, _default_text(kw))
            lines.extend(textwrap.wrap(text, width, initial_indent=indent + "  ",
                                       subsequent_indent=indent + "      "))
    return "\n".join(lines)


# ---- Student(...) -------------------------------------------------------------------------


def student_options(values):
    """A StudentOptions from {field: value} (fields of mimic_student_options): the library's
    defaults, then each value converted as the table's type says (choices by name).
    mimic_student_create checks the bounds; a value no field of its type can hold is an
    OptionError (a ValueError) naming the Student() argument here."""
    o = _lib.StudentOptions()
    _lib.lib.mimic_student_options_init(ctypes.byref(o), ctypes.sizeof(o))
    by_field = {opt.name: opt for opt in _lib.STUDENT_OPTIONS}
    for field, value in values.items():
        opt = by_field.get(field)
        if opt is None:
            raise TypeError("Student(): this libmimic has no student option %r" % field)
        name = _STUDENT_SPELLED[field]
        if opt.type == _lib.OPTION_ENUM:
            v = dict(opt.choices)[_choice_text(opt, value, name)]
        elif opt.type in (_lib.OPTION_SIZE, _lib.OPTION_UINT64, _lib.OPTION_INT32):
            v = int(value_text(opt, value, name))
            lo, hi = ((-(1 << 31), 1 << 31) if opt.type == _lib.OPTION_INT32
                      else (0, 1 << (8 * opt.size)))
            if not lo <= v < hi:
                raise OptionError("%s: must be >= %d and < 2**%d, not %d"
                                  % (name, lo, hi.bit_length() - 1, v), (name,))
        else:
            raise TypeError("Student(): student option %r has a type this package does not "
                            "set" % field)
        setattr(o, field, v)
    return o


def student_translate(message):
    """A library message with student_options.<field> spelled as Student()'s argument."""
    return Translator()(message)
