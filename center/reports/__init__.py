"""Reports of the center: the 风险诊断报告 of an enterprise (data.py gathers, charts.py draws,
render.py lays out the PDF from templates/, service.py records each one issued)."""
