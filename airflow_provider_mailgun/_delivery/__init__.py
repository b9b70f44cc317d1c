"""The delivery wait that ``MailgunDeliverySensor`` (poke mode) and ``MailgunDeliveryTrigger``
share: the goal and its decision, the sensor's inputs, and incremental reading of the events.
Pure (no Airflow); private."""
