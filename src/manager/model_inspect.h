// Reads the registry's facts about a model (architecture, sizes, context) from its GGUF header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "manager/model_record.h"

namespace hangar::manager {

// Fills the GGUF-derived fields of `rec` (architecture, n_params, tensor_types, tensor_bytes,
// context_length, has_chat_template, n_layer, kv_elems_per_token, hparams) from the file at
// `path`. Only the header is read, and long arrays (the vocabulary) are skipped, not decoded:
// well under a millisecond for a model in the page cache. Returns an error naming the file
// when it is not a valid GGUF or lacks general.architecture.
Status inspect_model_file(const std::string& path, ModelRecord* rec);

// The registry's text form of HParams ("key=value;..."), and back; nullopt for text that is
// not one (another version's, or damaged): the scan then reads the header again.
std::string encode_hparams(const model::HParams& hp);
std::optional<model::HParams> decode_hparams(const std::string& text);

}  // namespace hangar::manager
