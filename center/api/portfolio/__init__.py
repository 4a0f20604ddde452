"""承保企业: an insurer's portfolio, the enterprises it insures with their risk and its policies."""
