// Tests for StopMatcher: stop strings split across pieces, hold-back and split independence.
#include "sampling/stop_matcher.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hangar {
namespace {

// Feeds `pieces` and returns everything emitted (plus the flush if no stop), and the match.
std::pair<std::string, std::string> run(const std::vector<std::string>& stops,
                                        const std::vector<std::string>& pieces) {
  StopMatcher m(stops);
  std::string out;
  for (const std::string& piece : pieces) {
    StopMatcher::Step step = m.push(piece);
    out += step.emit;
    if (step.stopped) return {out, step.matched};
  }
  return {out + m.flush(), ""};
}

TEST(StopMatcher, StopSplitAcrossPieces) {
  StopMatcher m({"</s>"});
  auto a = m.push("hello <");
  EXPECT_EQ(a.emit, "hello ");
  EXPECT_FALSE(a.stopped);
  auto b = m.push("/");
  EXPECT_EQ(b.emit, "");
  auto c = m.push("s> more");
  EXPECT_EQ(c.emit, "");
  EXPECT_TRUE(c.stopped);
  EXPECT_EQ(c.matched, "</s>");
  EXPECT_EQ(m.flush(), "");
  EXPECT_TRUE(m.push("x").stopped);
}

TEST(StopMatcher, HeldTextIsReleasedWhenItDiverges) {
  StopMatcher m({"</s>"});
  EXPECT_EQ(m.push("a </").emit, "a ");
  EXPECT_EQ(m.push("b>").emit, "</b>");
  EXPECT_EQ(m.push("<").emit, "");
  EXPECT_EQ(m.flush(), "<");
}

TEST(StopMatcher, TextBeforeMatchInSamePieceIsEmitted) {
  auto [out, matched] = run({"STOP"}, {"abc STOP def"});
  EXPECT_EQ(out, "abc ");
  EXPECT_EQ(matched, "STOP");
}

TEST(StopMatcher, FirstStopToCompleteWins) {
  // "b" completes before "abc" does, whichever way the text is split.
  EXPECT_EQ(run({"abc", "b"}, {"xabc"}), (std::pair<std::string, std::string>{"xa", "b"}));
  EXPECT_EQ(run({"abc", "b"}, {"xa", "bc"}), (std::pair<std::string, std::string>{"xa", "b"}));
  // Both complete at the same byte: the longer one is the match.
  EXPECT_EQ(run({"c", "abc"}, {"xabc"}), (std::pair<std::string, std::string>{"x", "abc"}));
}

TEST(StopMatcher, ResultIndependentOfHowTextIsSplit) {
  const std::vector<std::string> stops = {"<|im_end|>", "\n\nUser:", "ee"};
  const std::vector<std::string> texts = {"Hello there<|im_end|>tail", "a\n\nUse\n\nUser: hi",
                                          "<|im_<|im_end|", "no stop here <|im", "free"};
  for (const std::string& text : texts) {
    const auto whole = run(stops, {text});
    for (size_t i = 0; i <= text.size(); ++i) {
      for (size_t j = i; j <= text.size(); ++j) {
        const auto split =
            run(stops, {text.substr(0, i), text.substr(i, j - i), text.substr(j)});
        ASSERT_EQ(split, whole) << text << " split at " << i << "," << j;
      }
    }
  }
  EXPECT_EQ(run(stops, {"free"}), (std::pair<std::string, std::string>{"fr", "ee"}));
  EXPECT_EQ(run(stops, {"<|im_<|im_end|"}).first, "<|im_<|im_end|");
}

TEST(StopMatcher, NoStopsPassesEverythingThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.push("abc").emit, "abc");
  StopMatcher empty({""});
  EXPECT_EQ(empty.push("abc").emit, "abc");
  EXPECT_EQ(empty.max_held(), 0u);
}

}  // namespace
}  // namespace hangar
