// The scalar IsaTable: reference kernels for CPUs without AVX2.
#include "kernels/reference/reference.h"

namespace hangar::kernels::detail {

const IsaTable& scalar_table() {
  static constexpr IsaTable kTable = [] {
    IsaTable t;
    t.isa = Isa::kScalar;
    for (auto& k : t.types) k.gemv = ref::gemv_rows;
    t.quantize_q8_32 = ref::quantize_acts_q8_32;
    t.quantize_q8_k = ref::quantize_acts_q8_k;
    t.bf16_to_f32 = ref::bf16_to_f32_row;
    t.dot_f32 = ref::dot_f32;
    t.dot_f16_f32 = ref::dot_f16_f32;
    t.axpy_f16 = ref::axpy_f16;
    t.dot_f16_f16 = ref::dot_f16_f16;
    t.scale_f16 = ref::scale_f16;
    t.mad_f16 = ref::mad_f16;
    t.attend_f16_head = ref::attend_f16_head;
    t.axpy_f32 = ref::axpy_f32;
    t.f32_to_f16 = ref::f32_to_f16_row;
    t.f16_to_f32 = ref::f16_to_f32_row;
    t.rms_norm = ref::rms_norm;
    t.scale = ref::scale;
    t.add = ref::add;
    t.silu_mul = ref::silu_mul;
    t.rope = ref::rope;
    t.dot_rows_f32 = ref::dot_rows_f32;
    t.axpy_rows_f32 = ref::axpy_rows_f32;
    t.softmax = ref::softmax;
    return t;
  }();
  return kTable;
}

}  // namespace hangar::kernels::detail
