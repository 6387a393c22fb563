// The diag tier's kernels. Built to PTX for compute_61 (Pascal, the oldest card the suite serves) by
// `python -m gpuaccept.diag.build_ptx` with NVRTC from CUDA 12.1, so the PTX ISA (8.1) loads on every
// driver from R530 on; the driver compiles it for the card in hand (sm_61 on a P40, sm_90 on an H100).
// Nothing here is compiled at run time on the tested host.

typedef unsigned int u32;
typedef unsigned long long u64;

// Pattern kinds (gpuaccept/diag/memtest.py names them).
#define SOLID 0      // every word is `arg` (moving inversions use a word and its complement)
#define WALK_ONES 1  // one set bit per word, moving with the address and the pass (`arg`)
#define WALK_ZEROS 2 // one clear bit per word, likewise
#define RANDOM 3     // a hash of the word's index and the seed `arg`: reproducible, no generator state

__device__ __forceinline__ u32 pattern(u64 i, u32 kind, u32 arg) {
    if (kind == SOLID) return arg;
    if (kind == WALK_ONES) return 1u << ((u32)(i + arg) & 31u);
    if (kind == WALK_ZEROS) return ~(1u << ((u32)(i + arg) & 31u));
    u64 z = i + (u64)arg * 0x9E3779B97F4A7C15ull;  // splitmix64's finaliser
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (u32)(z ^ (z >> 31));
}

extern "C" __global__ void fill(u32 *p, u64 n, u32 kind, u32 arg) {
    u64 stride = (u64)gridDim.x * blockDim.x;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) p[i] = pattern(i, kind, arg);
}

// Compare every word with its pattern. `result` holds: [0] mismatches, [1] slots taken, then `slots`
// records of (word index, expected << 32 | actual). With `invert` set, the word's complement is written
// back after the read (one half of a moving-inversions pass: read p, write ~p).
extern "C" __global__ void check(u32 *p, u64 n, u32 kind, u32 arg, u32 invert, u64 *result, u32 slots) {
    u64 stride = (u64)gridDim.x * blockDim.x;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        u32 want = pattern(i, kind, arg);
        u32 got = p[i];
        if (got != want) {
            atomicAdd(&result[0], 1ull);
            u64 slot = atomicAdd(&result[1], 1ull);
            if (slot < slots) {
                result[2 + 2 * slot] = i;
                result[3 + 2 * slot] = ((u64)want << 32) | got;
            }
        }
        if (invert) p[i] = ~want;
    }
}

// The soak's load: each word is read, run through eight independent FMA chains (the FP32 units) and
// written back (the memory), so both the SMs and the memory draw power, as in a GEMM-style burn.
extern "C" __global__ void burn(float *p, u64 n, u32 rounds) {
    u64 stride = (u64)gridDim.x * blockDim.x;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        float a = p[i], b = a + 1.0f, c = a + 2.0f, d = a + 3.0f, e = a + 4.0f, f = a + 5.0f, g = a + 6.0f,
              h = a + 7.0f;
        for (u32 r = 0; r < rounds; ++r) {
            a = fmaf(a, 0.999999f, 1e-6f); b = fmaf(b, 0.999999f, 1e-6f);
            c = fmaf(c, 0.999999f, 1e-6f); d = fmaf(d, 0.999999f, 1e-6f);
            e = fmaf(e, 0.999999f, 1e-6f); f = fmaf(f, 0.999999f, 1e-6f);
            g = fmaf(g, 0.999999f, 1e-6f); h = fmaf(h, 0.999999f, 1e-6f);
        }
        p[i] = (a + b + c + d + e + f + g + h) * 0.125f;
    }
}
