// Mutator: the byte-level mutations (see mutator.h).
#include "mutator.h"

#include <algorithm>
#include <cstring>

namespace hangar::fuzz {
namespace {

// Mutated inputs stay small enough that a case runs in milliseconds.
constexpr size_t kMaxSize = size_t{4} << 20;

}  // namespace

uint64_t Mutator::interesting() {
  static const uint64_t kValues[] = {0,          1,          2,          3,          7,          8,
                                     15,         16,         31,         32,         63,         64,
                                     127,        128,        255,        256,        1023,       1024,
                                     4095,       4096,       65535,      65536,      0x7fffffff, 0x80000000,
                                     0xffffffff, 0x100000000, 0x7fffffffffffffff, 0x8000000000000000,
                                     ~uint64_t{0}, ~uint64_t{0} - 1};
  uint64_t v = kValues[below(std::size(kValues))];
  if (one_in(4)) v = ~v + 1;  // the negative
  return v;
}

void Mutator::mutate(std::string& data, const std::string& other, int max_ops) {
  const int ops = 1 + static_cast<int>(below(static_cast<size_t>(max_ops)));
  for (int k = 0; k < ops; ++k) {
    const size_t n = data.size();
    switch (below(10)) {
      case 0:  // flip a bit
        if (n > 0) data[below(n)] ^= static_cast<char>(1u << below(8));
        break;
      case 1:  // a random byte
        if (n > 0) data[below(n)] = static_cast<char>(next());
        break;
      case 2: {  // an interesting integer over 1, 2, 4 or 8 bytes
        const size_t width = size_t{1} << below(4);
        if (n < width) break;
        const uint64_t v = interesting();
        std::memcpy(&data[below(n - width + 1)], &v, width);
        break;
      }
      case 3: {  // insert random bytes
        std::string bytes(1 + below(16), '\0');
        for (char& c : bytes) c = static_cast<char>(next());
        data.insert(below(n + 1), bytes);
        break;
      }
      case 4:  // insert a dictionary word
        if (has_words()) data.insert(below(n + 1), word());
        break;
      case 5:  // replace a range with a dictionary word
        if (has_words() && n > 0) {
          const size_t at = below(n);
          data.replace(at, std::min(n - at, 1 + below(8)), word());
        }
        break;
      case 6: {  // cut a range
        if (n == 0) break;
        const size_t at = below(n);
        data.erase(at, 1 + below(std::min<size_t>(n - at, 64)));
        break;
      }
      case 7: {  // repeat a range, sometimes many times
        if (n == 0) break;
        const size_t at = below(n);
        const std::string piece = data.substr(at, 1 + below(std::min<size_t>(n - at, 32)));
        const size_t times = one_in(8) ? 1 + below(512) : 1 + below(4);
        std::string run;
        for (size_t t = 0; t < times; ++t) run += piece;
        data.insert(at, run);
        break;
      }
      case 8: {  // splice a range of the other input
        if (other.empty()) break;
        const size_t from = below(other.size());
        const std::string piece = other.substr(from, 1 + below(std::min<size_t>(other.size() - from, 256)));
        data.insert(below(n + 1), piece);
        break;
      }
      default:  // truncate
        if (n > 0) data.resize(below(n));
        break;
    }
    if (data.size() > kMaxSize) data.resize(kMaxSize);
  }
}

}  // namespace hangar::fuzz
