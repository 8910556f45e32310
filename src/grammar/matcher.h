// Matcher: follows a generation through a grammar and masks the tokens that may come next.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/token_vocab.h"

namespace hangar::grammar {

// What a constrained generation needs: the grammar and the model's token data. Immutable;
// shared by every sequence that follows it.
struct Constraint {
  std::shared_ptr<const Grammar> grammar;
  std::shared_ptr<const TokenVocab> vocab;
};

// The state of one generation in the grammar: the set of parse stacks (a nondeterministic
// pushdown automaton over bytes), kept as frames that share their tails. Not thread-safe; one
// per sequence.
class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const Constraint> constraint);

  // Sets bit t of `allowed` (n_vocab bits in 64-bit words, cleared first) for every token that
  // may come next: tokens whose text keeps the output a prefix of the grammar's language,
  // special tokens the grammar expects now, and the end-of-generation tokens when the output
  // is complete. Walks the trie of token texts, pruned by the grammar, and takes whole
  // subtrees at once inside JSON strings.
  void fill_mask(uint64_t* allowed);

  // Advances by one token; false (and no change) when the grammar does not allow it. An
  // end-of-generation token is allowed when can_end().
  bool accept(int32_t token);
  // Advances by raw bytes (tests, prompts); false and no change when not allowed.
  bool accept_bytes(std::string_view bytes);

  // The output so far is a complete text of the grammar.
  bool can_end() const;
  // Complete, and nothing may follow.
  bool must_end() const;
  bool dead() const { return tops_.empty(); }
  // Parse stacks alive now (tests, diagnostics).
  size_t n_stacks() const { return tops_.size(); }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr uint32_t kAccept = UINT32_MAX - 1;  // a stack that has matched everything

  struct Frame {
    uint32_t pos;     // element index; for a return frame, the element after the rule ref
    uint32_t aux;     // string automaton state at a kString top
    uint32_t parent;  // the frame below, kNone at the bottom
  };

  // A stack's top frame. During a mask walk, `covered` marks a stack still inside the JSON
  // string it was in before the token began, whose tokens the mask already holds (from
  // TokenVocab::inside_string); it is part of a top's identity, so such stacks never merge
  // with others.
  struct Top {
    uint32_t frame;
    bool covered = false;
  };
  using Tops = std::vector<Top>;
  enum class Subtree { kWalk, kSet, kSkip };

  uint32_t new_frame(uint32_t pos, uint32_t aux, uint32_t parent);
  void push_top(Tops& tops, Top top);
  // Continues at element `pos` with `parent` below: expands rule refs and pops finished
  // alternatives until every stack's top is a terminal (or kAccept).
  void expand(uint32_t pos, uint32_t parent, Tops& out);
  // The stacks after byte `b` from `in`.
  void advance(const Tops& in, uint8_t b, Tops& out);
  // kSkip when a covered stack keeps every token below trie node `n` inside its string (the
  // mask has them already), kSet when another stack does, else kWalk.
  Subtree subtree_in_string(const Tops& tops, uint32_t n) const;
  void walk(uint32_t node, size_t depth, uint64_t* allowed);
  void set_range(uint32_t begin, uint32_t end, uint64_t* allowed) const;
  // Drops frames no stack refers to (after each accepted token).
  void compact();

  std::shared_ptr<const Constraint> constraint_;
  const Grammar& g_;
  const TokenVocab& vocab_;
  std::vector<Frame> frames_;
  Tops tops_;
  std::vector<Tops> levels_;  // walk scratch: the stacks at each trie depth
  bool ended_ = false;                         // an end-of-generation token was accepted
};

}  // namespace hangar::grammar
