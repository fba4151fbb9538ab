// person.thrift: the Person record of the encodings slides, in Thrift's IDL.
// encodings_table.py loads it with thriftpy2, which parses the IDL at run time.
struct Person {
  1: required string userName,
  2: optional i64 favoriteNumber,
  3: optional list<string> interests
}
