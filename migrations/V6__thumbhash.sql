-- An instant placeholder (issue 13): the base64 ThumbHash of the avatar's
-- smallest thumbnail, set by the thumbnail function when it becomes ready.
ALTER TABLE avatars ADD COLUMN thumbhash TEXT;
