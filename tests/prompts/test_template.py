"""The ``{{variables}}`` of a saved prompt's text (prompts/template.py): one parser, whose
``parts`` and ``variables`` the page and the composer receive."""

from __future__ import annotations

from prompts.template import Slot, Variable, template_fill, template_parse


def test_it_finds_variables_in_order_with_their_defaults():
    template = template_parse("Translate {{text}} into {{language|French}}.")
    assert template.variables == (Variable("text", None), Variable("language", "French"))
    assert template.parts == ("Translate ", Slot("text"), " into ", Slot("language"), ".")


def test_spaces_inside_the_braces_and_around_the_default_are_ignored():
    template = template_parse("{{ tone | very polite }}")
    assert template.variables == (Variable("tone", "very polite"),)


def test_an_empty_default_is_kept_apart_from_no_default():
    assert template_parse("{{note|}}").variables == (Variable("note", ""),)
    assert template_parse("{{note}}").variables == (Variable("note", None),)


def test_a_repeated_name_is_one_variable_filled_everywhere_and_the_first_default_wins():
    template = template_parse("{{name}} and {{name|Bob}} and {{ name|Carol }}")
    assert template.variables == (Variable("name", "Bob"),)
    assert template_fill(template, {"name": "Ann"}) == "Ann and Ann and Ann"


def test_unclosed_or_malformed_braces_stay_as_written():
    body = "{{open and {{ 1 + 1 }} and {{}} and {single} and {{bad-name}} and }}"
    template = template_parse(body)
    assert template.variables == ()
    assert template.parts == (body,)
    # An unclosed one beside a good one: only the good one is a variable.
    template = template_parse("{{a {{b}}")
    assert template.variables == (Variable("b", None),)
    assert template_fill(template, {"b": "B"}) == "{{a B"


def test_braces_inside_markdown_code_are_left_alone():
    body = (
        "Review {{file}}.\n"
        "```jinja\n{% for x in xs %}{{ x }}{% endfor %}\n```\n"
        "Inline `{{ user.name }}` too, then {{lang|Python}}."
    )
    template = template_parse(body)
    assert [v.name for v in template.variables] == ["file", "lang"]
    filled = template_fill(template, {"file": "a.py"})
    assert "{{ x }}" in filled and "`{{ user.name }}`" in filled
    assert filled.startswith("Review a.py.") and filled.endswith("then Python.")


def test_a_fence_left_open_runs_to_the_end():
    template = template_parse("{{a}}\n```\n{{b}}")
    assert [v.name for v in template.variables] == ["a"]


def test_names_may_be_in_any_script_but_not_start_with_a_digit():
    assert [v.name for v in template_parse("{{langue}} {{言語}} {{_x1}}").variables] == [
        "langue",
        "言語",
        "_x1",
    ]
    assert template_parse("{{1st}}").variables == ()


def test_a_default_cannot_run_across_lines_or_hold_braces():
    assert template_parse("{{a|x\ny}}").variables == ()
    assert template_parse("{{a|{b}}}").variables == ()


def test_filling_uses_the_default_when_no_value_is_given_and_keeps_markup_as_text():
    template = template_parse("<b>{{who|world}}</b>")
    assert template_fill(template, {}) == "<b>world</b>"
    assert template_fill(template, {"who": "<script>"}) == "<b><script></b>"


def test_the_json_form_is_what_the_browser_fills():
    assert template_parse("Hi {{who|you}}!").as_json() == {
        "parts": ["Hi ", {"var": "who"}, "!"],
        "variables": [{"name": "who", "default": "you"}],
    }
