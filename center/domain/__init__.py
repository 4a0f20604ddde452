"""The center's rules, free of HTTP and MQTT: the vocabulary and its Chinese names, the alert
verdicts and the hazard rectification loop, risk scoring, node health and configuration
versions, 统一社会信用代码, query times and 全安码 QR codes."""
