"""园区总览: the government's overview of the park (district) in figures."""
