"""Object transformer: per-object queries, initialised from the object summaries, read the
pixel readout under a foreground/background attention mask and write back into it.

Per object, queries 0..Q/2-1 may only attend to pixels where the auxiliary prediction says
that object wins (its probability >= background and every object of the same bucket/chunk),
queries Q/2.. only to the other pixels; a query whose whole row is blocked sees everything.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from m3vos.trackers.cutie.config import CutieModelConfig
from m3vos.trackers.cutie.group_conv import GConv2d
from m3vos.trackers.cutie.positional_encoding import PositionalEncoding
from m3vos.trackers.cutie.tensor_ops import aggregate
from m3vos.trackers.cutie.transformer_layers import FFN, CrossAttention, PixelFFN, SelfAttention


class QueryTransformerBlock(nn.Module):
    """queries <- pixels (masked), queries <-> queries, FFN, pixels <- queries, pixel FFN."""

    def __init__(self, cfg: CutieModelConfig) -> None:
        super().__init__()
        t = cfg.object_transformer
        self.embed_dim = t.embed_dim
        self.num_heads = t.num_heads
        self.num_queries = t.num_queries
        self.read_from_pixel = CrossAttention(t.embed_dim, t.num_heads,
                                              add_pe_to_qkv=t.read_from_pixel_pe)
        self.self_attn = SelfAttention(t.embed_dim, t.num_heads,
                                       add_pe_to_qkv=t.query_self_attention_pe)
        self.ffn = FFN(t.embed_dim, t.ff_dim)
        self.read_from_query = CrossAttention(t.embed_dim, t.num_heads,
                                              add_pe_to_qkv=t.read_from_query_pe,
                                              norm=t.read_from_query_output_norm)
        self.pixel_ffn = PixelFFN(t.embed_dim)

    def forward(self, x: torch.Tensor, pixel: torch.Tensor, query_pe: torch.Tensor,
                pixel_pe: torch.Tensor, attn_mask: torch.Tensor, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """x, query_pe [B*N, Q, C]; pixel [B, N, C, h, w]; pixel_pe [B*N, h*w, C];
        attn_mask [B*N*heads, Q, h*w] -> (x, pixel, query weights, pixel weights)."""
        pixel_flat = pixel.flatten(3, 4).flatten(0, 1).transpose(1, 2).contiguous()
        x, q_weights = self.read_from_pixel(x, pixel_flat, query_pe, pixel_pe,
                                            attn_mask=attn_mask, need_weights=need_weights)
        x = self.self_attn(x, query_pe)
        x = self.ffn(x)
        pixel_flat, p_weights = self.read_from_query(pixel_flat, x, pixel_pe, query_pe,
                                                     need_weights=need_weights)
        pixel = self.pixel_ffn(pixel, pixel_flat)
        if need_weights:
            bs, num_objects, _, h, w = pixel.shape
            q_weights = q_weights.view(bs, num_objects, self.num_heads, self.num_queries, h, w)
            p_weights = p_weights.transpose(2, 3).view(bs, num_objects, self.num_heads,
                                                       self.num_queries, h, w)
        return x, pixel, q_weights, p_weights


class QueryTransformer(nn.Module):
    def __init__(self, cfg: CutieModelConfig) -> None:
        super().__init__()
        t = cfg.object_transformer
        self.value_dim = cfg.value_dim
        self.embed_dim = t.embed_dim
        self.num_heads = t.num_heads
        self.num_queries = t.num_queries
        self.query_init = nn.Embedding(t.num_queries, t.embed_dim)
        self.query_emb = nn.Embedding(t.num_queries, t.embed_dim)
        self.summary_to_query_init = nn.Linear(t.embed_dim, t.embed_dim)
        self.summary_to_query_emb = nn.Linear(t.embed_dim, t.embed_dim)
        self.pixel_init_proj = GConv2d(t.embed_dim, t.embed_dim, kernel_size=1)
        self.pixel_emb_proj = GConv2d(t.embed_dim, t.embed_dim, kernel_size=1)
        self.spatial_pe = PositionalEncoding(t.embed_dim, scale=cfg.pixel_pe_scale,
                                             temperature=cfg.pixel_pe_temperature,
                                             channel_last=False, transpose_output=True)
        self.num_blocks = t.num_blocks
        self.blocks = nn.ModuleList(QueryTransformerBlock(cfg) for _ in range(t.num_blocks))
        self.mask_pred = nn.ModuleList(
            nn.Sequential(nn.ReLU(), GConv2d(t.embed_dim, 1, kernel_size=1))
            for _ in range(t.num_blocks + 1))

    def forward(self, pixel: torch.Tensor, obj_summaries: torch.Tensor,
                selector: torch.Tensor | None = None, need_weights: bool = False
                ) -> tuple[torch.Tensor, dict[str, object]]:
        """pixel [B, N, C, h, w] (the fused readout); obj_summaries [B, N, T, Q, C+1] (running
        sums; T = 1 at inference) -> (new readout [B, N, C, h, w], aux features: 'logits' (list
        of [B, N, h, w]), 'q_weights', 'p_weights' (last block), 'attn_mask' (training))."""
        T = obj_summaries.shape[2]
        bs, num_objects, _, H, W = pixel.shape

        obj_summaries = obj_summaries.view(bs * num_objects, T, self.num_queries,
                                           self.embed_dim + 1)
        obj_sums = obj_summaries[:, :, :, :-1].sum(dim=1)
        obj_area = obj_summaries[:, :, :, -1:].sum(dim=1)
        obj_values = obj_sums / (obj_area + 1e-4)
        obj_init = self.summary_to_query_init(obj_values)
        obj_emb = self.summary_to_query_emb(obj_values)
        query = self.query_init.weight.unsqueeze(0).expand(bs * num_objects, -1, -1) + obj_init
        query_emb = self.query_emb.weight.unsqueeze(0).expand(bs * num_objects, -1, -1) + obj_emb

        # Pixel positional embedding: computed once from the input readout.
        pixel_init = self.pixel_init_proj(pixel)
        pixel_emb = self.pixel_emb_proj(pixel)
        pixel_pe = self.spatial_pe(pixel.flatten(0, 1))
        pixel_emb = pixel_emb.flatten(3, 4).flatten(0, 1).transpose(1, 2).contiguous()
        pixel_pe = pixel_pe.flatten(1, 2) + pixel_emb
        pixel = pixel_init

        aux_logits = self.mask_pred[0](pixel).squeeze(2)
        attn_mask = self._get_aux_mask(aux_logits, selector)
        aux_features: dict[str, Any] = {"logits": [aux_logits]}
        q_weights = p_weights = None
        for i, block in enumerate(self.blocks):
            query, pixel, q_weights, p_weights = block(query, pixel, query_emb, pixel_pe,
                                                       attn_mask, need_weights=need_weights)
            aux_logits = self.mask_pred[i + 1](pixel).squeeze(2)
            aux_features["logits"].append(aux_logits)
            # The mask after the last block is unused at inference: skip building it.
            if i + 1 < self.num_blocks or self.training or need_weights:
                attn_mask = self._get_aux_mask(aux_logits, selector)
        aux_features["q_weights"] = q_weights
        aux_features["p_weights"] = p_weights
        if self.training:
            aux_features["attn_mask"] = attn_mask.view(bs, num_objects, self.num_heads,
                                                       self.num_queries, H, W)[:, :, 0]
        return pixel, aux_features

    def _get_aux_mask(self, logits: torch.Tensor,
                      selector: torch.Tensor | None) -> torch.Tensor:
        """logits [B, N, h, w] -> boolean mask [B*N*heads, Q, h*w], True = blocked."""
        prob = logits.sigmoid() if selector is None else logits.sigmoid() * selector
        logits = aggregate(prob, dim=1)
        is_foreground = logits[:, 1:] >= logits.max(dim=1, keepdim=True)[0]
        foreground_mask = is_foreground.bool().flatten(start_dim=2)
        half = self.num_queries // 2
        blocked_for_fg = (~foreground_mask).unsqueeze(2).unsqueeze(2).repeat(
            1, 1, self.num_heads, half, 1).flatten(start_dim=0, end_dim=2)
        blocked_for_bg = foreground_mask.unsqueeze(2).unsqueeze(2).repeat(
            1, 1, self.num_heads, half, 1).flatten(start_dim=0, end_dim=2)
        aux_mask = torch.cat([blocked_for_fg, blocked_for_bg], dim=1)
        aux_mask[torch.where(aux_mask.sum(-1) == aux_mask.shape[-1])] = False
        return aux_mask
