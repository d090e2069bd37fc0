// extract.h: finding the final answer in a response: \boxed{}/\fbox{} with nested braces, <answer> tags,
// "#### N", "the answer is", LaTeX math spans ($...$, \(...\), \[...\]), and the last number.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reasonrl::rewards {

// The last "\boxed{...}" / "\boxed ..." / "\fbox{...}" including the command (slime/verl last_boxed_only_string);
// nullopt if none or unterminated.
std::optional<std::string> last_boxed_only_string(std::string_view s);
// "\boxed{X}" -> "X", "\boxed X" -> "X"; nullopt if `s` is not a whole box.
std::optional<std::string> remove_boxed(std::string_view s);
// Contents of every complete \boxed{}/\fbox{} in order, with the text between consecutive boxes.
struct BoxMatch {
  size_t begin, end;       // byte range of the whole box command
  std::string content;
};
std::vector<BoxMatch> find_boxes(std::string_view s);
// Content of the last <answer>...</answer> (trimmed), if any.
std::optional<std::string> last_answer_tag(std::string_view s);
// Text after the last "#### " (GSM8K), trimmed to the line.
std::optional<std::string> hash_answer(std::string_view s);
// Text after the last "answer is" / "answer:" phrase, up to the end of the sentence.
std::optional<std::string> answer_is_phrase(std::string_view s);
// Every plain number in the text ("1,234.5", "-3", ".5", "3/4" as separate numbers), in order.
std::vector<std::string> find_numbers(std::string_view s);
// Math spans: contents of $...$, $$...$$, \(...\), \[...\] in order (inline $ and \( may not span a newline).
struct SpanMatch {
  size_t begin, end;
  std::string content;
};
std::vector<SpanMatch> find_math_spans(std::string_view s);
// The part after the last </think> (or all of `s` if there is none).
std::string_view after_think(std::string_view s);

}  // namespace reasonrl::rewards
