"""The shared option-letter extractor and multiple-choice scoring: the traps, no guessing, the random fallback."""

from collections import Counter

import pytest

from bench.benchmarks.choice import MultipleChoice, parse_choice, random_letter, score_choice, unparsed_mode
from bench.options import format_options
from bench.records import Sample
from bench.registry import RegistryError, benchmarks

OPTIONS = ("a red cup", "the blue door", "a green ball", "nothing", "the man")


@pytest.mark.parametrize("reply, expected", [
    # the letter, however it is dressed
    ("B", "B"), ("b", "B"), ("(B)", "B"), ("B.", "B"), ("**B**", "B"), ("[B]", "B"), ("  (b)\n", "B"),
    ("B) the blue door", "B"), ("B. the blue door", "B"), ("B: the blue door", "B"), ("B.The blue door", "B"),
    ("b) the blue door", "B"), ("c) something else", "C"), ("B\n\nThe blue door is opened.", "B"),
    ("B, because the door is blue", "B"),
    # an explicit phrase
    ("Answer: B", "B"), ("Answer: b", "B"), ("Answer: (b)", "B"), ("ANSWER: B", "B"), ("Answer:\nB", "B"),
    ("The answer is B", "B"), ("The answer is B.", "B"), ("The best answer is: (C)", "C"), ("Best option: D", "D"),
    ("Option D", "D"), ("option (D)", "D"), ("The correct option is E", "E"), ("The answer is B, not C", "B"),
    ("The answer is (B) the blue door", "B"), ("Based on the video, the answer is C.", "C"),
    # the option's text instead of its letter
    ("the blue door", "B"), ("The answer is: the blue door", "B"), ("Nothing.", "D"),
    ("Based on the video, the person picks up a red cup.", "A"), ("e.g. a red cup", "A"),
    # a capital standing alone
    ("I think it's B", "B"), ("The question asks which answer is correct. B", "B"),
    # words are not letters: "Based" is not B, the article "A" and the pronoun "I" are not options
    ("Based on the video I cannot tell.", None), ("A man opens it", None), ("I did not see any shape.", None),
    ("Answer: I don't know", None), ("Everything happens quickly", None),
    # several options named: no guess
    ("(A) or (B)", None), ("A and C", None), ("B and C", None), ("Both A and B are plausible", None),
    ("Option A is wrong, option B is right", None), ("Options: A, B, C", None), ("The man opens the blue door.", None),
    # nothing, or a letter past the options
    ("", None), ("   ", None), ("F", None), ("The answer is F.", None),
])
def test_parse_choice_reads_the_letter_and_never_guesses(reply, expected):
    assert parse_choice(reply, OPTIONS) == expected


@pytest.mark.parametrize("reply, expected", [
    # the reply rules letters out, or lists them, then chooses one
    ("Not A, it's B", "B"), ("Not A, it’s B.", "B"), ("Not A, it's B because the door is blue", "B"),
    ("Among A, B, C, D, I choose C", "C"), ("I'd go with (D).", "D"), ("I would choose option B, the blue door", "B"),
    ("It must be E", "E"),
    ("B is correct, while A, C and D are not", "B"), ("(D) is the best", "D"), ("Of these, E is the right answer", "E"),
    # still two letters, so still no guess
    ("I choose A or B", None), ("It's A or B", None), ("A or C is correct", None), ("(A) or (C) is correct", None),
    ("A and C are both plausible", None),
])
def test_parse_choice_reads_the_letter_a_reply_chooses_among_others(reply, expected):
    assert parse_choice(reply, OPTIONS) == expected


# EgoSchema calls the camera wearer "C", in questions and options alike (questions.json record 0)
EGO_OPTIONS = ("C stops scrolling to check notifications on their phone, indicating a possible distraction",
               "C briefly stops scrolling to engage in conversation with others, showcasing the social aspect",
               "C interrupts scrolling to type on the laptop, adding variety to the video's main focus",
               "C briefly stops scrolling, showing a drifting focus.",
               "C takes a break to drink from a cup, briefly shifting focus")


@pytest.mark.parametrize("reply, expected", [
    ("C is cutting the onion, so the answer is B", "B"),  # the explicit phrase, as before
    ("C is cutting the onion, so B.", "B"),  # the wearer is not a second letter
    ("C is scrolling on the phone the whole time.", None),  # about the wearer: no option named
    ("C and the woman cut the beans, so A.", "A"),
    ("C’s hands hold the phone", None),
    ("C briefly stops scrolling, showing a drifting focus.", "D"),  # option D's text
    ("C", "C"), ("(C)", "C"), ("C. C briefly stops scrolling", "C"), ("C is correct", "C"), ("The answer is C", "C"),
    ("A and C are both plausible", None), ("C and D are both plausible", None),  # letters in a list stay letters
])
def test_egoschema_reads_c_before_a_word_as_the_camera_wearer(reply, expected):
    egoschema = benchmarks.build("egoschema")
    sample = _sample(answer="B", options=EGO_OPTIONS)
    assert egoschema.parse(reply, sample) == expected
    assert egoschema.score(sample, reply).parsed == (expected or "")


@pytest.mark.parametrize("reply, expected", [
    ("C is scrolling on the phone the whole time.", "C"),  # elsewhere a capital standing alone is a letter
    ("C and the woman cut the beans, so A.", None),
])
def test_other_benchmarks_have_no_camera_wearer(reply, expected):
    assert benchmarks.build("nextqa").parse(reply, _sample(options=EGO_OPTIONS)) == expected


@pytest.mark.parametrize("reply, options, expected", [
    ("D", ("x", "y", "z"), None),  # three options: D is not one
    ("C", ("x", "y", "z"), "C"),
    ("Berries", ("Apples.", "Candles.", "Berries.", "The three kinds are of the same number."), "C"),  # trailing dot ignored
    ("the man in red", ("the man", "the man in red", "a dog"), "B"),  # the longer option contains the shorter
    ("3", ("1", "2", "3", "4", "5"), "C"),
    ("2 men and 3 dogs", ("1", "2", "3", "4", "5"), None),
])
def test_parse_choice_respects_the_options(reply, options, expected):
    assert parse_choice(reply, options) == expected


def _sample(answer="B", sample_id="q1", options=OPTIONS) -> Sample:
    return Sample("t", "val", sample_id, "v", (), "q?", options, answer)


@pytest.mark.parametrize("reply, correct, parsed, parse_ok", [
    ("B", True, "B", True),
    ("(C)", False, "C", True),
    ("I did not see any shape.", False, "", False),  # unparsed counts wrong, and says so
])
def test_score_choice_counts_unparsed_as_wrong_with_parse_ok_false(reply, correct, parsed, parse_ok):
    outcome = score_choice(_sample(), reply)
    assert (outcome.correct, outcome.parsed, outcome.parse_ok, outcome.error) == (correct, parsed, parse_ok, "")


def test_a_hidden_answer_leaves_correct_undecided():
    assert score_choice(_sample(answer=""), "B").correct is None
    assert score_choice(_sample(answer=""), "no idea").correct is None


def test_random_fallback_is_seeded_by_the_sample_and_spread_over_the_options():
    samples = [_sample(sample_id=f"q{i}") for i in range(500)]
    letters = [score_choice(s, "no idea", "random").parsed for s in samples]
    assert letters == [score_choice(s, "still no idea", "random").parsed for s in samples]  # same id, same letter
    counts = Counter(letters)
    assert set(counts) == set("ABCDE") and all(60 <= n <= 140 for n in counts.values())  # 100 each expected
    outcome = score_choice(samples[0], "no idea", "random")
    assert outcome.parse_ok is False and outcome.correct == (outcome.parsed == "B") and outcome.parsed == random_letter(samples[0])
    assert score_choice(samples[0], "(D)", "random").parsed == "D"  # a parsed reply is never replaced


def test_multiple_choice_benchmarks_share_the_parser_and_check_their_mode():
    class Quiz(MultipleChoice):
        unparsed = "random"

    assert Quiz().parse("The answer is (E)", _sample()) == "E"
    outcome = Quiz().score(_sample(), "no idea here?")
    assert outcome.parse_ok is False and outcome.parsed in "ABCDE" and outcome.parsed
    with pytest.raises(RegistryError, match="unparsed must be one of wrong, random, not 'guess'"):
        unparsed_mode("guess")


def test_options_are_lettered_one_per_line():
    assert format_options(("x", "y", "z")) == "A. x\nB. y\nC. z"


def test_needle_scores_the_probe_replies_with_the_same_parser():
    needle = benchmarks.build("needle")
    sample = _sample(answer="C", options=("red", "green", "blue", "yellow", "pink"))
    assert needle.score(sample, "C. blue").correct is True
    assert needle.score(sample, "B. green").correct is False
    assert needle.score(sample, "I did not see any shape.").parse_ok is False


COOKING = ("The man is cooking pasta", "A car", "He walked away.", "the woman reads a book", "nothing happens")


@pytest.mark.parametrize("reply, expected", [
    # a hedge that settles on one letter
    ("Either B or D, but most likely D.", "D"), ("It could be A or C; most likely C", "C"), ("B or E, probably E.", "E"),
    ("Hard to say between A and B. I'd say B.", "B"), ("I'm leaning towards D.", "D"), ("More likely A than C? More likely A", "A"),
    # a hedge that does not settle stays unparsed
    ("Either B or D.", None), ("Probably B or D.", None), ("Most likely A or C, I cannot tell.", None),
    # the whole reply is an option's text, with another article, case or end punctuation
    ("A man is cooking pasta.", "A"), ("the man is cooking pasta", "A"), ("THE MAN IS COOKING PASTA!", "A"),
    ("A car", "B"), ("a car.", "B"), ("The car", "B"), ("He walked away.", "C"), ("he walked away", "C"),
    ("A woman reads a book.", "D"), ("Nothing happens.", "E"),
    # neither the whole text nor the text as written: a description, not an answer
    ("A man is cooking pasta in the kitchen while the woman watches.", None),
    ("A car drives by.", "B"),  # the option as written, inside the reply: as before
])
def test_hedges_and_option_texts_read_as_a_person_would(reply, expected):
    assert parse_choice(reply, COOKING) == expected


EGO_KITCHEN = ("C is cooking a meal in the kitchen", "C is washing the dishes after dinner", "C is reading a recipe book",
               "C is talking to a friend on the phone", "C is cleaning the kitchen counter")


@pytest.mark.parametrize("reply, expected", [
    ("C is cooking a meal.", "A"),  # part of option A's text: A, not letter C
    ("C is washing the dishes.", "B"), ("c is reading a recipe book", "C"),  # the letter C only because option C says so
    ("C is cleaning.", "E"),
    ("C is in the kitchen.", None),  # part of no option's text as said: unparsed, never letter C
    ("C is talking.", "D"), ("C is", None),  # part of every option: no guess
    ("C is cooking a meal, so the answer is B.", "B"),  # an explicit phrase still wins
])
def test_egoschema_reads_a_sentence_about_the_wearer_by_the_option_it_belongs_to(reply, expected):
    assert benchmarks.build("egoschema").parse(reply, _sample(options=EGO_KITCHEN)) == expected
