-- Preconditions of a write batch, stated where they are checked. A batch that may only commit while something
-- still holds (the device is still ACTIVE, the counter still the one read, a limit still has room) begins with
--   INSERT INTO precondition (name, holds) SELECT '<name>', <condition>
-- A condition that is false aborts that statement with 'precondition failed: <name>', and D1 rolls the whole
-- batch back. `precondition` is a view, so nothing is ever stored and nothing has to be deleted again.
-- Replaces the CHECK-constraint scratch tables of 0002 (`guards`) and 0007 (`start_limit_guards`).
CREATE VIEW precondition AS SELECT '' AS name, 1 AS holds WHERE 0;

CREATE TRIGGER precondition_must_hold INSTEAD OF INSERT ON precondition
WHEN NEW.holds IS NOT 1
BEGIN
  SELECT RAISE(ABORT, 'precondition failed: ' || NEW.name);
END;

DROP TABLE IF EXISTS guards;
DROP TABLE IF EXISTS start_limit_guards;
