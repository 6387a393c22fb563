// The soak's tensor-core load, for cards of compute capability 8.0 and later (Ampere, Hopper, ...): their
// power limit is reached only with matrix units busy, which the Pascal kernels in kernels.cu cannot reach.
// Built to PTX for compute_80 by `python -m gpuaccept.diag.build_ptx` (NVRTC 12.1, PTX ISA 8.1); loaded only
// where the card's compute capability is 8.0 or more. No headers: the MMA is written as inline PTX.

typedef unsigned int u32;

// Each warp keeps four independent m16n8k16 FP16 multiply-accumulates (FP32 accumulators) in flight for
// `rounds` rounds: the tensor cores stay busy, memory stays idle (the soak's copies load memory beside it).
extern "C" __global__ void burn_tc(float *out, u32 rounds) {
    u32 a0 = 0x3c003c00u ^ threadIdx.x, a1 = 0x3c003c00u, a2 = 0x3c003c00u, a3 = 0x3c003c00u;
    u32 b0 = 0x14001400u, b1 = 0x14001400u;  // half-precision 1.0 and ~0.001: finite sums throughout
    float c[4][4] = {};
    for (u32 r = 0; r < rounds; ++r) {
#pragma unroll
        for (int k = 0; k < 4; ++k)
            asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                         "{%0,%1,%2,%3};"
                         : "+f"(c[k][0]), "+f"(c[k][1]), "+f"(c[k][2]), "+f"(c[k][3])
                         : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
    float s = 0.0f;
    for (int k = 0; k < 4; ++k) s += c[k][0] + c[k][1] + c[k][2] + c[k][3];
    if (s == 1234.5f) out[blockIdx.x] = s;  // never true: only keeps the compiler from dropping the work
}
