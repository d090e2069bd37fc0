// flash_attention.h: tiled MLA attention for training (FlashAttention-2 style) over packed variable-length sequences:
// blocks of queries against blocks of keys with an online softmax; only the per-row log-sum-exp is kept, and the
// backward recomputes the scores block by block. Memory O(N) per head instead of the reference's (B, H, T, T).
// The scalar-free reference is mla_attention_forward / mla_attention_backward (layers.h); tests compare the two.
//
// Sequences are packed without padding: sequence s owns the token rows [cu_seqlens[s], cu_seqlens[s+1]) of q, kv,
// kpe, o (a padded (B, T) batch is cu_seqlens = {0, T, 2T, ..., B*T}). Attention is causal inside each sequence and
// never crosses a boundary; RoPE positions are the caller's (restart them per sequence before calling).
// Letters as in layers.h; N = cu_seqlens[nseq].
#pragma once
#include <cstddef>
#include <vector>

namespace reasonrl::model {

// Query and key block sizes (rows of one tile). Blocks start at each sequence's first token.
inline constexpr int kFlashBlockQ = 64;
inline constexpr int kFlashBlockK = 64;

// q (N, H, Dn+Dr) (rope part rotated), kv (N, H, Dn+Dv) = [k_nope | v] per head, kpe (N, Dr) rotated, shared by the
// heads. Writes o (N, H, Dv) and lse (N, H) = log sum_j exp(scale * q.k_j) over the row's causal keys.
template <class S>
void flash_mla_forward(S* o, S* lse, const S* q, const S* kv, const S* kpe, const int* cu_seqlens, int nseq, int H,
                       int Dn, int Dr, int Dv, double scale);
// dq (N, H, Dn+Dr), dkv (N, H, Dn+Dv), dkpe (N, Dr) are WRITTEN from dout (N, H, Dv), using the forward's o and lse.
template <class S>
void flash_mla_backward(S* dq, S* dkv, S* dkpe, const S* dout, const S* o, const S* lse, const S* q, const S* kv,
                        const S* kpe, const int* cu_seqlens, int nseq, int H, int Dn, int Dr, int Dv, double scale);

// {0, T, 2T, ..., B*T}: the cu_seqlens of a padded (B, T) batch.
std::vector<int> uniform_cu_seqlens(int B, int T);

}  // namespace reasonrl::model
