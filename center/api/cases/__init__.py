"""Complaints (投诉, answered within 10/30 working days) and claims (理赔: 报案 → 查勘 → 定损 →
赔付 / 拒赔)."""
