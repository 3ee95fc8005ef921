"""Messages that leave fabu: notifications, signed webhooks and the daily reports."""
