DROP TABLE eventstore.log_anchor_streams;
DROP TABLE eventstore.log_anchors;
