DROP TABLE meta_callback_replays;
