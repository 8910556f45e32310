// Fuzz targets: the untrusted-input parsers hangar runs (GGUF reader, tokenizer load and encode,
// chat template parse and render, API request bodies, HTTP framing), each with its seeds and
// mutations.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "mutator.h"

namespace hangar::fuzz {

struct Target {
  std::string name;
  std::vector<std::string> seeds;
  std::vector<std::string> dictionary;
  // Builds the next input from the seeds; by default a byte mutation of one of them.
  std::function<std::string(Mutator&, const std::vector<std::string>& seeds)> generate;
  // Runs one input. An Error or refusal is a fine outcome; a broken invariant returns a
  // description (a crash or a hang is caught by the runner itself).
  std::function<std::string(const std::string& input)> run;
};

// gguf and tokenizer (fuzz_files.cc), seeded from the shared models; `scratch_dir` holds
// the temporary files the GGUF reader needs (it reads paths).
std::vector<Target> make_file_targets(const std::string& shared_dir, const std::string& scratch_dir);
// template and request (fuzz_text.cc), seeded from the golden chat templates and sample bodies.
std::vector<Target> make_text_targets(const std::string& shared_dir);
// http (fuzz_http.cc): raw request bytes through the server's HTTP/1.x reader.
Target http_target();

}  // namespace hangar::fuzz
