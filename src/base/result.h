// Result<T> and Error: how bad input travels up the layers without exceptions.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace hangar {

// A failure caused by input (a file, a request, a flag). The message names the thing that
// was wrong and what was expected; callers may prefix context with `context()`.
class Error {
 public:
  explicit Error(std::string message) : message_(std::move(message)) {}
  const std::string& message() const { return message_; }
  // Returns a copy whose message is "prefix: message".
  Error context(const std::string& prefix) const { return Error(prefix + ": " + message_); }

 private:
  std::string message_;
};

// Either a value or an Error. Accessing the wrong alternative is a bug (ASSERT).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { HANGAR_ASSERT(ok()); return std::get<0>(v_); }
  const T& value() const& { HANGAR_ASSERT(ok()); return std::get<0>(v_); }
  T&& value() && { HANGAR_ASSERT(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { HANGAR_ASSERT(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result for operations that return nothing on success.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT
  static Status Ok() { return Status(); }
  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { HANGAR_ASSERT(!ok()); return *error_; }

 private:
  std::optional<Error> error_;
};

}  // namespace hangar

// Propagates an error from an expression returning Result/Status.
#define HANGAR_TRY(expr)                                 \
  do {                                                   \
    auto&& hangar_try_result_ = (expr);                  \
    if (!hangar_try_result_.ok()) return hangar_try_result_.error(); \
  } while (0)

#define HANGAR_CONCAT_INNER(a, b) a##b
#define HANGAR_CONCAT(a, b) HANGAR_CONCAT_INNER(a, b)
// HANGAR_ASSIGN(auto x, expr): binds the value of a Result or returns its error.
#define HANGAR_ASSIGN(decl, expr) HANGAR_ASSIGN_IMPL(HANGAR_CONCAT(hangar_r_, __LINE__), decl, expr)
#define HANGAR_ASSIGN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                        \
  if (!tmp.ok()) return tmp.error();        \
  decl = std::move(tmp).value()
